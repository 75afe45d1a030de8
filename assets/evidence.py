"""evidence/records and evidence/rejects from one partition of raw/snapshot_files."""

import dagster as dg
import polars as pl

from assets.context import current_partition, md_table, utc_now
from assets.partitions import lake_partitions
from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS, SNAPSHOT_FILES
from core.evidence import build_evidence
from core.lake import reuse_day
from resources.lake import LakeResource
from resources.sources import SourcesResource


def prior_records(lake: LakeResource, source: str, day) -> pl.DataFrame | None:
    """File evidence of one earlier partition of the same source, for reuse.

    The partition itself when it was materialised before, else the latest earlier day.
    """
    prior_day = reuse_day(lake.root_uri, EVIDENCE_RECORDS, source, day, lake.storage_options)
    if prior_day is None:
        return None
    prior = lake.read(EVIDENCE_RECORDS, [(source, prior_day)])
    return prior.filter(pl.col("extractor") != "jsonl_stream")


@dg.multi_asset(
    outs={
        "records": dg.AssetOut(key=EVIDENCE_RECORDS.asset_key, description=EVIDENCE_RECORDS.description,
                               kinds={"polars", "deltalake"}),
        "rejects": dg.AssetOut(key=EVIDENCE_REJECTS.asset_key, description=EVIDENCE_REJECTS.description,
                               kinds={"polars", "deltalake"}),
    },
    ins={"snapshot_files": dg.AssetIn(key=SNAPSHOT_FILES.asset_key)},
    partitions_def=lake_partitions,
    group_name="evidence",
)
def evidence(context: dg.AssetExecutionContext, snapshot_files: pl.DataFrame, lake: LakeResource,
             sources: SourcesResource):
    """Extract evidence from every stored file (or reuse it), quarantine what cannot be read."""
    source_name, day = current_partition(context)
    source = sources.get(source_name)
    prior = prior_records(lake, source_name, day) if source.kind != "jsonl" else None
    result = build_evidence(source_name, source.kind, day, snapshot_files, lake.objects(),
                            source.event_time_field, utc_now(), prior, report=context.log.info)
    receipt = result.receipt
    context.log.info(
        f"{receipt['records']} records, {result.rejects.height} rejects; files extracted "
        f"{receipt['files_extracted']}, reused {receipt['files_reused']}; lines {receipt['inputs']['lines']}"
    )
    rejects_sample = result.rejects.select("path", "line_offset", "reason", "detail").head(20)
    yield dg.Output(result.records, output_name="records", metadata={
        "receipt": dg.MetadataValue.json(receipt),
        "files_extracted": receipt["files_extracted"],
        "files_reused": receipt["files_reused"],
        "records_by_kind": dg.MetadataValue.json(receipt["records_by_kind"]),
    })
    yield dg.Output(result.rejects, output_name="rejects", metadata={
        "rejects_by_reason": dg.MetadataValue.json(receipt["rejects_by_reason"]),
        "sample": md_table(rejects_sample.to_dicts()),
    })
