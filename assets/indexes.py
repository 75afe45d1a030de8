"""index/*: sections, symbols, documents, terms, term_stats and the manifest, from one evidence partition."""

import dagster as dg
import polars as pl

from assets.context import current_partition
from assets.partitions import lake_partitions
from core.contracts import EVIDENCE_RECORDS, INDEX_MANIFEST, INDEX_TABLES
from core.indexing import build_indexes

OUTS = {c.name: dg.AssetOut(key=c.asset_key, description=c.description, kinds={"polars", "deltalake"})
        for c in (*INDEX_TABLES, INDEX_MANIFEST)}


@dg.multi_asset(outs=OUTS, ins={"records": dg.AssetIn(key=EVIDENCE_RECORDS.asset_key)},
                partitions_def=lake_partitions, group_name="index")
def indexes(context: dg.AssetExecutionContext, records: pl.DataFrame):
    """Rebuildable search and lookup indexes over the partition's evidence."""
    source, day = current_partition(context)
    built = build_indexes(records, source, day)
    rows = dict(zip(built.manifest["index_name"].to_list(), built.manifest["rows"].to_list(), strict=True))
    context.log.info(f"indexed {records.height} evidence records: {rows}")
    for contract in INDEX_TABLES:
        manifest_row = built.manifest.filter(pl.col("index_name") == contract.table_id).row(0, named=True)
        yield dg.Output(built.tables[contract.table_id], output_name=contract.name,
                        metadata={"index_hash": manifest_row["index_hash"]})
    yield dg.Output(built.manifest, output_name=INDEX_MANIFEST.name, metadata={
        "evidence_hash": built.manifest["evidence_hash"][0] if built.manifest.height else "",
        "rows": dg.MetadataValue.json(rows),
    })
