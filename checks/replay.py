"""Checks on replay/tasks and replay/runs."""

import dagster as dg
import polars as pl

from checks.factories import PartitionReads, check_step, partition_check, schema_check
from core.content_hash import content_hash
from core.contracts import EXPAND_RECEIPTS, REPLAY_RUNS, REPLAY_TASKS
from core.expand import ExpandError, rehash
from core.lake import META_PREFIX, commit_history
from core.replay import batch_order, reproducibility, scorecard
from core.resolve import ResolveError, Resolver
from core.slices import SliceError

RUNS_KEY = dg.AssetKey(REPLAY_RUNS.asset_key)
RECEIPTS_KEY = dg.AssetKey(EXPAND_RECEIPTS.asset_key)


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


@partition_check(RECEIPTS_KEY, "replay_receipts_reproducible",
                 description="Every expansion the newest replay batch served re-expands from the objects store to "
                             "the bytes its receipt hashed: what the responder saw can be shown again.")
def replay_receipts_reproducible(reads: PartitionReads) -> dg.AssetCheckResult:
    receipts = reads.table(EXPAND_RECEIPTS)
    batches = batch_order(reads.table(REPLAY_RUNS))
    latest = receipts.filter(pl.col("run_id") == batches[-1]) if batches else receipts.clear()
    served = latest.filter(pl.col("status") == "SUCCESS")
    resolver = Resolver(reads.lake.root_uri, reads.lake.storage_options)
    source, day = reads.partition
    differ: list[str] = []
    for ref, text, digest in served.select("ref", "slice", "content_hash").unique().sort("ref", "slice").iter_rows():
        try:
            again = rehash(resolver, ref, text, source, day)
        except (ResolveError, SliceError, ExpandError) as exc:
            again = f"error: {exc}"
        if again != digest:
            differ.append(f"{ref} {text}: {again if again.startswith('error') else 'different bytes'}")
    return dg.AssetCheckResult(passed=not differ, metadata={
        "receipts": latest.height, "served": served.height, "refused": latest.height - served.height,
        "differ": dg.MetadataValue.json(differ[:20])},
        description=f"{len(differ)} served expansions no longer re-expand to their receipt's hash, first: "
                    f"{differ[0]}" if differ else None)


# Two steps: replay/runs is downstream of replay/tasks, whose blocking schema check must run first.
REPLAY_CHECKS = [
    check_step("replay_tasks_checks", [schema_check(REPLAY_TASKS)], "Schema of replay/tasks."),
    check_step("replay_runs_checks", [schema_check(REPLAY_RUNS), replay_runs_append_only, replay_runs_reproducible,
                                      schema_check(EXPAND_RECEIPTS), replay_receipts_reproducible],
               "Schema, append-only ledger and reproducibility of replay/runs, and of the receipts of its bundles."),
]
