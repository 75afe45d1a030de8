"""Checks on index/*: schema, determinism, rebuild equivalence, referential integrity."""

import dagster as dg
import polars as pl

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from checks.factories import schema_check
from core.contracts import EVIDENCE_RECORDS, INDEX_DOCUMENTS, INDEX_MANIFEST, INDEX_TABLES, INDEX_TERMS
from core.indexing import build_indexes
from core.search import SearchIndex, rank_signature
from core.tokenize import query_terms
from resources.lake import LakeResource

MANIFEST_KEY = dg.AssetKey(INDEX_MANIFEST.asset_key)
EVIDENCE_KEY = dg.AssetKey(EVIDENCE_RECORDS.asset_key)
INDEX_KEYS = [dg.AssetKey(c.asset_key) for c in INDEX_TABLES]
QUERY_COUNT = 8


def fixed_queries(documents: pl.DataFrame) -> list[str]:
    """A deterministic query set drawn from the partition itself (titles of evenly spaced documents)."""
    if documents.height == 0:
        return []
    ordered = documents.sort("evidence_id")
    step = max(ordered.height // QUERY_COUNT, 1)  # evenly spaced over the partition
    titles = [t for t in ordered["title"].to_list() if query_terms(t)]  # a title of stop words is no query
    return titles[::step][:QUERY_COUNT]


def _others(key: dg.AssetKey) -> list[dg.AssetKey]:
    return [EVIDENCE_KEY, *(k for k in INDEX_KEYS if k != key)]


@dg.asset_check(asset=MANIFEST_KEY, name="index_deterministic", partitions_def=lake_partitions,
                additional_deps=_others(MANIFEST_KEY),
                description="Rebuilding every index from evidence in memory gives the stored index_hash values.")
def index_deterministic(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    partition = current_partition(context)
    stored = lake.read(INDEX_MANIFEST, [partition]).select("index_name", "rows", "index_hash", "evidence_hash")
    rebuilt = build_indexes(lake.read(EVIDENCE_RECORDS, [partition]), *partition).manifest.select(
        "index_name", "rows", "index_hash", "evidence_hash")
    diff = stored.join(rebuilt, on="index_name", how="full", suffix="_rebuilt").filter(
        (pl.col("index_hash") != pl.col("index_hash_rebuilt")) | pl.col("index_hash").is_null()
        | pl.col("index_hash_rebuilt").is_null() | (pl.col("evidence_hash") != pl.col("evidence_hash_rebuilt")))
    return dg.AssetCheckResult(passed=diff.height == 0 and stored.height == len(INDEX_TABLES),
                               description=f"{diff.height} indexes differ from a rebuild" if diff.height else None,
                               metadata={"indexes": stored.height, "differences": md_table(diff.to_dicts())})


@dg.asset_check(asset=dg.AssetKey(INDEX_TERMS.asset_key), name="index_rebuild_equivalence",
                partitions_def=lake_partitions, additional_deps=_others(dg.AssetKey(INDEX_TERMS.asset_key)),
                description="A fixed query set gives identical ranked results on the stored and a rebuilt index.")
def index_rebuild_equivalence(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    partition = current_partition(context)
    stored = SearchIndex.load(lake.root_uri, partitions=[partition], storage_options=lake.storage_options)
    tables = build_indexes(lake.read(EVIDENCE_RECORDS, [partition]), *partition).tables
    rebuilt = SearchIndex(tables["index/terms"], tables["index/documents"], tables["index/term_stats"], [partition])
    queries = fixed_queries(stored.documents)
    mismatches = [q for q in queries if rank_signature(stored.search(q)) != rank_signature(rebuilt.search(q))]
    return dg.AssetCheckResult(passed=not mismatches, description=f"{len(mismatches)} queries rank differently"
                               if mismatches else None,
                               metadata={"queries": dg.MetadataValue.json(queries), "mismatches": len(mismatches)})


@dg.asset_check(asset=dg.AssetKey(INDEX_DOCUMENTS.asset_key), name="index_referential", blocking=True,
                partitions_def=lake_partitions, additional_deps=_others(dg.AssetKey(INDEX_DOCUMENTS.asset_key)),
                description="Every evidence_id in every index table exists in evidence/records of the partition.")
def index_referential(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    partition = current_partition(context)
    known = lake.read(EVIDENCE_RECORDS, [partition]).select("evidence_id").unique()
    dangling = {}
    for contract in INDEX_TABLES:
        if "evidence_id" not in contract.polars_schema:
            continue
        ids = lake.read(contract, [partition]).select("evidence_id").unique()
        missing = ids.join(known, on="evidence_id", how="anti")
        if missing.height:
            dangling[contract.table_id] = missing.height
    return dg.AssetCheckResult(passed=not dangling, metadata={"dangling": dg.MetadataValue.json(dangling)},
                               description=f"dangling evidence ids: {dangling}" if dangling else None)


INDEX_CHECKS = [*(schema_check(c) for c in (*INDEX_TABLES, INDEX_MANIFEST)), index_deterministic,
                index_rebuild_equivalence, index_referential]
