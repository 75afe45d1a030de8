"""Checks on index/*: schema, determinism, rebuild equivalence, referential integrity."""

import dagster as dg
import polars as pl

from assets.context import md_table
from checks.factories import PartitionCheck, PartitionReads, check_step, partition_check, schema_check
from core.contracts import (
    EVIDENCE_RECORDS,
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_TABLES,
    INDEX_TERM_STATS,
    INDEX_TERMS,
)
from core.indexing import build_indexes
from core.search import SearchIndex, rank_signature
from core.tokenize import query_terms

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


def _rebuilt(reads: PartitionReads):
    """The partition's indexes rebuilt from its evidence in memory, once per check step."""
    if "rebuilt_indexes" not in reads.memo:
        reads.memo["rebuilt_indexes"] = build_indexes(reads.table(EVIDENCE_RECORDS), *reads.partition)
    return reads.memo["rebuilt_indexes"]


@partition_check(MANIFEST_KEY, "index_deterministic", additional_deps=_others(MANIFEST_KEY),
                 description="Rebuilding every index from evidence in memory gives the stored index_hash values.")
def index_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    stored = reads.table(INDEX_MANIFEST).select("index_name", "rows", "index_hash", "evidence_hash")
    rebuilt = _rebuilt(reads).manifest.select(
        "index_name", "rows", "index_hash", "evidence_hash")
    diff = stored.join(rebuilt, on="index_name", how="full", suffix="_rebuilt").filter(
        (pl.col("index_hash") != pl.col("index_hash_rebuilt")) | pl.col("index_hash").is_null()
        | pl.col("index_hash_rebuilt").is_null() | (pl.col("evidence_hash") != pl.col("evidence_hash_rebuilt")))
    return dg.AssetCheckResult(passed=diff.height == 0 and stored.height == len(INDEX_TABLES),
                               description=f"{diff.height} indexes differ from a rebuild" if diff.height else None,
                               metadata={"indexes": stored.height, "differences": md_table(diff.to_dicts())})


@partition_check(dg.AssetKey(INDEX_TERMS.asset_key), "index_rebuild_equivalence",
                 additional_deps=_others(dg.AssetKey(INDEX_TERMS.asset_key)),
                 description="A fixed query set gives identical ranked results on the stored and a rebuilt index.")
def index_rebuild_equivalence(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    stored = SearchIndex(reads.table(INDEX_TERMS), reads.table(INDEX_DOCUMENTS), reads.table(INDEX_TERM_STATS),
                         [partition])
    tables = _rebuilt(reads).tables
    rebuilt = SearchIndex(tables["index/terms"], tables["index/documents"], tables["index/term_stats"], [partition])
    queries = fixed_queries(stored.documents)
    mismatches = [q for q in queries if rank_signature(stored.search(q)) != rank_signature(rebuilt.search(q))]
    return dg.AssetCheckResult(passed=not mismatches, description=f"{len(mismatches)} queries rank differently"
                               if mismatches else None,
                               metadata={"queries": dg.MetadataValue.json(queries), "mismatches": len(mismatches)})


@partition_check(dg.AssetKey(INDEX_DOCUMENTS.asset_key), "index_referential", blocking=True,
                 additional_deps=_others(dg.AssetKey(INDEX_DOCUMENTS.asset_key)),
                 description="Every evidence_id in every index table exists in evidence/records of the partition.")
def index_referential(reads: PartitionReads) -> dg.AssetCheckResult:
    known = reads.table(EVIDENCE_RECORDS).select("evidence_id").unique()
    dangling = {}
    for contract in INDEX_TABLES:
        if "evidence_id" not in contract.polars_schema:
            continue
        ids = reads.table(contract).select("evidence_id").unique()
        missing = ids.join(known, on="evidence_id", how="anti")
        if missing.height:
            dangling[contract.table_id] = missing.height
    return dg.AssetCheckResult(passed=not dangling, metadata={"dangling": dg.MetadataValue.json(dangling)},
                               description=f"dangling evidence ids: {dangling}" if dangling else None)


INDEX_RULES: list[PartitionCheck] = [*(schema_check(c) for c in (*INDEX_TABLES, INDEX_MANIFEST)),
                                     index_deterministic, index_rebuild_equivalence, index_referential]
INDEX_CHECKS = [check_step("index_checks", INDEX_RULES,
                           "Schema, referential integrity, determinism and rebuild equivalence of index/*.")]
