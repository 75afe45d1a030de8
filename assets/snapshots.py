"""raw/snapshots and raw/snapshot_files: one read of the source feeds both tables."""

import datetime as dt
from collections.abc import Callable

import dagster as dg

from assets.context import current_partition, md_table, utc_now
from assets.partitions import lake_partitions
from core.contracts import EVIDENCE_RECORDS, SNAPSHOT_FILES, SNAPSHOTS
from core.file_extraction import prestart_extraction
from core.lake import reuse_day
from core.readers.git import GitError
from core.snapshot import PartitionRefused, take_snapshot, utc_today
from core.sources import SourceConfig
from resources.lake import LakeResource
from resources.sources import SourcesResource


def evidence_pool_starter(context: dg.AssetExecutionContext, lake: LakeResource, source: SourceConfig,
                          day: dt.date) -> Callable[[int], object] | None:
    """``take_snapshot``'s ``on_read`` when this run goes on to extract the partition's files from scratch:
    the extraction pool then starts while the files are hashed and stored, not when the evidence step
    begins. None when the run has no evidence step, or the step will reuse an earlier day's evidence.
    """
    evidence_key = dg.AssetKey(EVIDENCE_RECORDS.asset_key)
    if source.kind == "jsonl" or evidence_key not in context.job_def.asset_layer.selected_asset_keys:
        return None
    try:
        prior = reuse_day(lake.root_uri, EVIDENCE_RECORDS, source.name, day, lake.storage_options)
    except Exception:  # a head start only: the evidence step reads the same table and says what is wrong with it
        return None
    return prestart_extraction if prior is None else None


@dg.multi_asset(
    outs={
        "snapshots": dg.AssetOut(
            key=SNAPSHOTS.asset_key, description=SNAPSHOTS.description, kinds={"polars", "deltalake"}
        ),
        "snapshot_files": dg.AssetOut(
            key=SNAPSHOT_FILES.asset_key, description=SNAPSHOT_FILES.description, kinds={"polars", "deltalake"}
        ),
    },
    partitions_def=lake_partitions,
    group_name="raw",
)
def raw_snapshot(context: dg.AssetExecutionContext, lake: LakeResource, sources: SourcesResource):
    """Read the source for (source, day), store new bytes in the objects store, index every file."""
    source_name, day = current_partition(context)
    source = sources.get(source_name)
    context.log.info(f"snapshotting {source.kind} source '{source.name}' at {source.path} for {day} (UTC)")
    try:
        result = take_snapshot(source, day, lake.objects(), today=utc_today(), taken_at=utc_now(),
                               on_read=evidence_pool_starter(context, lake, source, day))
    except PartitionRefused as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except GitError as exc:
        raise dg.Failure(description=f"source '{source.name}': {exc}", allow_retries=False) from exc
    snap = result.snapshot.row(0, named=True)
    context.log.info(
        f"{snap['file_count']} files, {snap['stored_count']} stored ({result.objects_written} new objects, "
        f"{result.objects_reused} already in the store), {snap['rejected_count']} not stored"
    )
    not_stored = result.files.filter(result.files["status"] != "stored").select("path", "status", "detail")
    yield dg.Output(
        result.snapshot,
        output_name="snapshots",
        metadata={
            "snapshot_id": snap["snapshot_id"],
            "as_of": snap["as_of"],
            "file_count": snap["file_count"],
            "total_bytes": snap["total_bytes"],
        },
    )
    yield dg.Output(
        result.files,
        output_name="snapshot_files",
        metadata={
            "objects_written": result.objects_written,
            "objects_reused": result.objects_reused,
            "status_counts": dg.MetadataValue.json(result.status_counts),
            "not_stored": md_table(not_stored.to_dicts()),
        },
    )
