"""replay/tasks and replay/runs (an append-only ledger, one batch per Dagster run)."""

import os
from pathlib import Path

import dagster as dg
import polars as pl

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from core.contracts import EXPAND_RECEIPTS, INDEX_MANIFEST, INDEX_SECTIONS, INDEX_SYMBOLS, REPLAY_RUNS, REPLAY_TASKS
from core.expand import receipts_frame
from core.project import PROJECT_ROOT
from core.replay import (
    Budgets,
    bundle_expander,
    derive_tasks,
    latest_batch,
    load_authored,
    replay_task,
    reproducibility,
    resolve_authored,
    runs_frame,
    scorecard,
    tasks_frame,
)
from core.resolve import Resolver
from core.search import SearchIndex
from resources.lake import LakeResource
from resources.responder import ResponderResource


def authored_folder() -> Path:
    return Path(os.environ.get("EVIDENCE_LAKE_REPLAY_TASKS", PROJECT_ROOT / "data" / "replay_tasks"))


@dg.asset(key=REPLAY_TASKS.asset_key, description=REPLAY_TASKS.description, partitions_def=lake_partitions,
          group_name="replay", kinds={"polars", "deltalake"},
          ins={"symbols": dg.AssetIn(key=INDEX_SYMBOLS.asset_key),
               "sections": dg.AssetIn(key=INDEX_SECTIONS.asset_key)})
def replay_tasks(context: dg.AssetExecutionContext, symbols: pl.DataFrame, sections: pl.DataFrame):
    """Tasks with known answers: derived from the index, plus authored ones for this source."""
    source, day = current_partition(context)
    try:
        authored = load_authored(authored_folder(), source)
    except (ValueError, OSError) as exc:
        raise dg.Failure(f"authored replay tasks in {authored_folder()}: {exc}", allow_retries=False) from exc
    resolved, unresolved = resolve_authored(authored, symbols, sections)
    tasks = tasks_frame(derive_tasks(symbols, sections) + resolved, source, day)
    if unresolved:
        context.log.warning(f"{len(unresolved)} authored tasks do not resolve in this partition: {unresolved[:5]}")
    return dg.Output(tasks, metadata={"tasks": tasks.height, "by_origin": dg.MetadataValue.json(
        dict(sorted(tasks.group_by("origin").len().iter_rows()))), "unresolved_authored": len(unresolved)})


@dg.multi_asset(
    outs={"runs": dg.AssetOut(key=REPLAY_RUNS.asset_key, description=REPLAY_RUNS.description,
                              kinds={"polars", "deltalake"}),
          "receipts": dg.AssetOut(key=EXPAND_RECEIPTS.asset_key, description=EXPAND_RECEIPTS.description,
                                  kinds={"polars", "deltalake"})},
    partitions_def=lake_partitions, group_name="replay", ins={"tasks": dg.AssetIn(key=REPLAY_TASKS.asset_key)},
    deps=[dg.AssetKey(INDEX_MANIFEST.asset_key)])
def replay_runs(context: dg.AssetExecutionContext, tasks: pl.DataFrame, lake: LakeResource,
                responder: ResponderResource):
    """Replay every task of the partition as one new batch of the ledger, with a receipt per bundle item."""
    source, day = current_partition(context)
    index = SearchIndex.load(lake.root_uri, partitions=[(source, day)], storage_options=lake.storage_options) \
        if tasks.height else None
    manifest = lake.read(INDEX_MANIFEST, [(source, day)]).filter(pl.col("index_name") == "index/terms")
    index_hash = manifest["index_hash"][0] if manifest.height else "none"
    answerer, budgets = responder.build(), Budgets()
    expander = bundle_expander(Resolver(lake.root_uri, lake.storage_options), context.run.run_id, budgets)
    rows = [replay_task(task, index, answerer, budgets, expander=expander) for task in tasks.iter_rows(named=True)]
    runs = runs_frame(rows, source, day, context.run.run_id, index_hash)
    receipts = receipts_frame(expander.receipts, source, day)
    previous = latest_batch(
        lake.read(REPLAY_RUNS, [(source, day)]).filter(pl.col("replay_batch_id") != context.run.run_id))
    card = scorecard(runs, tasks)
    repro = reproducibility(runs, previous)
    refused = receipts.filter(pl.col("status") == "FAILURE")
    context.log.info(f"replayed {runs.height} tasks with {answerer.name}: {card}; reproducibility {repro}; "
                     f"{receipts.height} expansions, {refused.height} refused")
    yield dg.Output(runs, output_name="runs", metadata={
        "scorecard": dg.MetadataValue.json(card), "reproducibility": repro if repro is not None else "first batch",
        "hit_at_k": card.get("hit_at_k", 0.0), "grounded_rate": card.get("grounded_rate", 0.0),
        "misses": md_table(runs.filter(pl.col("outcome") != "success").select("task_id", "outcome", "detail")
                           .head(10).to_dicts()),
    })
    yield dg.Output(receipts, output_name="receipts", metadata={
        "expansions": receipts.height, "refused": refused.height, "bytes": int(receipts["bytes"].sum() or 0),
        "refusals": md_table(refused.select("step", "ref", "reason").head(10).to_dicts()),
    })
