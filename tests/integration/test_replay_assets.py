"""Replay on a real code tree: hit@10 of derived symbol tasks, reproducible batches, append-only ledger."""

import shutil
import sysconfig
from pathlib import Path

import polars as pl

from checks.factories import PartitionReads
from checks.replay import replay_runs_append_only
from core.contracts import EXPAND_RECEIPTS, REPLAY_RUNS, REPLAY_TASKS
from core.lake import read_partitions, write_partitions
from resources.lake import LakeResource
from resources.sources import SourcesResource
from tests.helpers import check_results, materialize_all, utc_today, write_sources


def test_replay_on_stdlib_reaches_hit_at_10_and_reproduces(tmp_path, instance, lake_root):
    src = tmp_path / "src"
    for pkg in ("json", "email"):
        shutil.copytree(Path(sysconfig.get_paths()["stdlib"]) / pkg, src / pkg,
                        ignore=shutil.ignore_patterns("__pycache__"))
    sources = write_sources(tmp_path / "sources.toml", {"std": {"kind": "tree", "path": "src"}})
    day = utc_today()
    first = materialize_all(instance, lake_root, sources, "std", day)
    assert first.success and all(check_results(first).values()), check_results(first)
    tasks = read_partitions(str(lake_root), REPLAY_TASKS, [("std", day)])
    runs = read_partitions(str(lake_root), REPLAY_RUNS, [("std", day)])
    joined = runs.join(tasks.select("task_id", "origin"), on="task_id")
    # each bundle item with a symbol or section behind it was expanded from the objects store, with a receipt
    receipts = read_partitions(str(lake_root), EXPAND_RECEIPTS, [("std", day)])
    assert set(receipts["run_id"]) == {first.run_id} and set(receipts["step"]) <= set(tasks["task_id"])
    assert receipts.height >= runs.height and (receipts["status"] == "SUCCESS").mean() >= 0.9
    assert receipts.filter(pl.col("status") == "SUCCESS")["bytes"].min() > 0
    symbol_tasks = joined.filter(pl.col("origin").str.starts_with("derived_symbol"))
    assert symbol_tasks.height >= 100
    assert symbol_tasks["hit_at_k"].mean() >= 0.9
    assert runs["grounded"].mean() >= 0.9
    second = materialize_all(instance, lake_root, sources, "std", day)
    checks = check_results(second)
    assert second.success and checks["replay_runs_reproducible"] and checks["replay_runs_append_only"]
    ledger = read_partitions(str(lake_root), REPLAY_RUNS, [("std", day)])
    assert ledger["replay_batch_id"].n_unique() == 2 and ledger.height == 2 * runs.height
    batch1 = ledger.filter(pl.col("replay_batch_id") == first.run_id).sort("task_id")
    assert batch1.equals(runs.sort("task_id"))  # the first batch is untouched by the second
    batch2 = ledger.filter(pl.col("replay_batch_id") == second.run_id).sort("task_id")
    assert batch1["bundle_sha256"].to_list() == batch2["bundle_sha256"].to_list()
    assert batch1["response_sha256"].to_list() == batch2["response_sha256"].to_list()
    # an edit of the first batch after it was written, by a commit that is not its run's, fails the rule;
    # another partition's commit lands in between, as a parallel run's would
    other = batch2.with_columns(pl.lit("other").alias("source"))
    write_partitions(str(lake_root), REPLAY_RUNS, other, [("other", day)], {"dagster_run_id": "other-run"})
    edited = batch1.with_columns(pl.col("hit_at_k").not_())
    write_partitions(str(lake_root), REPLAY_RUNS, edited, [("std", day)], {"dagster_run_id": "a-hand-edit"})
    reads = PartitionReads(("std", day), LakeResource(root=str(lake_root)), SourcesResource(file=str(sources)))
    verdict = replay_runs_append_only.rule(reads)
    assert not verdict.passed and first.run_id in verdict.description and second.run_id not in verdict.description
