"""Checks on replay/tasks and replay/runs."""

import dagster as dg
import polars as pl

from checks.factories import PartitionReads, check_step, partition_check, schema_check
from core.content_hash import content_hash
from core.contracts import REPLAY_RUNS, REPLAY_TASKS
from core.lake import META_PREFIX, commit_history
from core.replay import batch_order, reproducibility, scorecard

RUNS_KEY = dg.AssetKey(REPLAY_RUNS.asset_key)


@partition_check(RUNS_KEY, "replay_runs_append_only", blocking=True,
                 description="Every batch of the partition still has exactly the rows it had when it was written.")
def replay_runs_append_only(reads: PartitionReads) -> dg.AssetCheckResult:
    partition, lake = reads.partition, reads.lake
    runs = reads.table(REPLAY_RUNS)
    table = lake.table(REPLAY_RUNS)
    written_at = {}
    for entry in commit_history(table) if table else []:
        batch = entry.get(f"{META_PREFIX}dagster_run_id")
        if batch and batch not in written_at:
            written_at[batch] = int(entry["version"])  # history is newest first: keep the latest write
    changed, missing = [], []
    for batch in batch_order(runs):
        version = written_at.get(batch)
        if version is None:
            missing.append(batch)
            continue
        then = lake.read(REPLAY_RUNS, [partition], version=version).filter(pl.col("replay_batch_id") == batch)
        now = runs.filter(pl.col("replay_batch_id") == batch)
        if content_hash(then, REPLAY_RUNS.key, ()) != content_hash(now, REPLAY_RUNS.key, ()):
            changed.append(batch)
    return dg.AssetCheckResult(passed=not changed and not missing, metadata={
        "batches": len(written_at), "changed": dg.MetadataValue.json(changed),
        "without_commit": dg.MetadataValue.json(missing)},
        description=f"batches edited after they were written: {changed}; no commit found: {missing}"
        if changed or missing else None)


@partition_check(RUNS_KEY, "replay_runs_reproducible",
                 description="With the extractive responder, the newest batch repeats the previous one hash for hash.")
def replay_runs_reproducible(reads: PartitionReads) -> dg.AssetCheckResult:
    runs = reads.table(REPLAY_RUNS)
    batches = batch_order(runs)
    latest = runs.filter(pl.col("replay_batch_id") == batches[-1]) if batches else runs
    card = scorecard(latest)
    meta = {"hit_at_k": card.get("hit_at_k", 0.0), "grounded_rate": card.get("grounded_rate", 0.0),
            "batches": len(batches)}
    if len(batches) < 2 or set(latest["responder"].to_list()) != {"extractive"}:
        return dg.AssetCheckResult(passed=True, metadata={**meta, "compared": False},
                                   description="nothing to compare yet (first batch, or not extractive)")
    share = reproducibility(latest, runs.filter(pl.col("replay_batch_id") == batches[-2]))
    if share is None:
        return dg.AssetCheckResult(passed=True, metadata={**meta, "compared": False},
                                   description="no task in common with the previous batch on the same index")
    return dg.AssetCheckResult(passed=share == 1.0, metadata={**meta, "compared": True, "reproducibility": share},
                               description=None if share == 1.0 else f"only {share:.1%} of tasks reproduced")


# Two steps: replay/runs is downstream of replay/tasks, whose blocking schema check must run first.
REPLAY_CHECKS = [
    check_step("replay_tasks_checks", [schema_check(REPLAY_TASKS)], "Schema of replay/tasks."),
    check_step("replay_runs_checks", [schema_check(REPLAY_RUNS), replay_runs_append_only, replay_runs_reproducible],
               "Schema, append-only ledger and reproducibility of replay/runs."),
]
