"""Checks on index/*: schema, determinism, rebuild equivalence, referential integrity."""

import dagster as dg
import polars as pl

from assets.context import md_table
from checks.factories import PartitionCheck, PartitionReads, check_step, partition_check, schema_check
from core.check_sample import CheckSampleError, Sample, sample_unit, sample_units
from core.content_hash import content_hash
from core.contracts import (
    EVIDENCE_RECORDS,
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_TABLES,
    INDEX_TERM_STATS,
    INDEX_TERMS,
)
from core.index_check import (
    AGGREGATE_COLUMNS,
    PER_RECORD,
    PostingsSummary,
    SampledRebuild,
    aggregate_differences,
    id_hashes,
    manifest_differences,
    postings_queries,
    postings_summary,
    rebuild_sample,
    sample_differences,
)
from core.indexing import INDEX_INPUT, build_indexes
from core.search import SearchIndex, rank_signature
from core.tokenize import token_frame

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
    # a title of stop words is no query: the titles with a token (token_frame gives tokenize's tokens, in
    # one vectorised pass; a query_terms call per title took 0.3 s of the check for 9k documents)
    titles = ordered["title"].to_list()
    tokenised = token_frame(list(range(len(titles))), titles)["id"].unique().sort().to_list()
    return [titles[i] for i in tokenised][::step][:QUERY_COUNT]


def _others(key: dg.AssetKey) -> list[dg.AssetKey]:
    return [EVIDENCE_KEY, *(k for k in INDEX_KEYS if k != key)]


def _sample(reads: PartitionReads) -> Sample:
    """The units (files, blocks of stream lines) whose evidence the index checks rebuild
    (EVIDENCE_LAKE_CHECK_SAMPLE), once per step."""
    if "index_sample" not in reads.memo:
        units = reads.columns(EVIDENCE_RECORDS, ["path", "line_offset"]).select(sample_unit())["unit"].unique()
        reads.memo["index_sample"] = sample_units(units.to_list(), reads.partition[0], reads.partition[1].isoformat())
    return reads.memo["index_sample"]


def _rebuilt(reads: PartitionReads):
    """The partition's indexes rebuilt from its evidence in memory, once per check step."""
    if "rebuilt_indexes" not in reads.memo:
        reads.memo["rebuilt_indexes"] = build_indexes(reads.table(EVIDENCE_RECORDS), *reads.partition)
    return reads.memo["rebuilt_indexes"]


def _rebuilt_sample(reads: PartitionReads) -> SampledRebuild:
    """The sampled units' indexes rebuilt in memory, once per check step."""
    if "rebuilt_sample" not in reads.memo:
        # only the sampled units' rows, and only the columns an index is built from
        records = reads.columns(EVIDENCE_RECORDS, INDEX_INPUT, _sample(reads).rows())
        reads.memo["rebuilt_sample"] = rebuild_sample(records, *reads.partition)
    return reads.memo["rebuilt_sample"]


def _postings(reads: PartitionReads) -> PostingsSummary:
    """df per term, length per document and the row count of the stored postings, from streaming scans
    (the 4x stdlib's 4.95M postings held whole: +650 MiB), once per check step."""
    if "postings_summary" not in reads.memo:
        if reads.holds(INDEX_TERMS):
            held = reads.table(INDEX_TERMS).lazy()
            results = [query(held).collect(engine="streaming") for query in postings_queries()]
        else:  # one table version, one scan per query
            results = reads.summarise(INDEX_TERMS, postings_queries())
        reads.memo["postings_summary"] = postings_summary(results)
    return reads.memo["postings_summary"]


def _sampled_postings(reads: PartitionReads) -> pl.DataFrame:
    """The stored postings of the sampled records (a filtered scan), once per check step."""
    if "sampled_postings" not in reads.memo:
        chosen = pl.col("evidence_id").is_in(_rebuilt_sample(reads).evidence_ids.implode())
        if reads.holds(INDEX_TERMS):
            reads.memo["sampled_postings"] = reads.table(INDEX_TERMS).filter(chosen)
        else:
            reads.memo["sampled_postings"] = reads.summarise(INDEX_TERMS, [lambda lf: lf.filter(chosen)])[0]
    return reads.memo["sampled_postings"]


def _stored_hash(reads: PartitionReads, contract) -> str:
    """The stored partition's content hash: the one our writer recorded while its files are unchanged
    (core.verified), else hashed from the rows read."""
    return reads.known_hash(contract) or content_hash(reads.table(contract), contract.key, contract.volatile)


def _stored_sample(reads: PartitionReads) -> dict[str, pl.DataFrame]:
    """The stored rows of the sampled records in each per-record index (filtered reads), once per check step."""
    if "stored_sample" not in reads.memo:
        chosen = pl.col("evidence_id").is_in(_rebuilt_sample(reads).evidence_ids.implode())
        reads.memo["stored_sample"] = {
            c.table_id: _sampled_postings(reads) if c is INDEX_TERMS
            else reads.columns(c, list(c.polars_schema), chosen) for c in PER_RECORD}
    return reads.memo["stored_sample"]


def _stored_aggregates(reads: PartitionReads) -> dict[str, pl.DataFrame]:
    """What the partition-wide columns are re-derived from: every term's df, and of every document and symbol
    only the columns that derivation reads (projections: the whole tables held +390 MiB at 4x the stdlib)."""
    if "stored_aggregates" not in reads.memo:
        reads.memo["stored_aggregates"] = {
            INDEX_TERM_STATS.table_id: reads.table(INDEX_TERM_STATS),
            **{c.table_id: reads.columns(c, AGGREGATE_COLUMNS[c.table_id]) for c in PER_RECORD
               if c.table_id in AGGREGATE_COLUMNS}}
    return reads.memo["stored_aggregates"]


def _heights(reads: PartitionReads) -> dict[str, int]:
    """Rows of each stored index table: counted by a scan (Parquet metadata) unless the step holds the table."""
    heights = {}
    for contract in INDEX_TABLES:
        if reads.holds(contract):
            heights[contract.table_id] = reads.table(contract).height
        elif contract is INDEX_TERMS:
            heights[contract.table_id] = _postings(reads).rows
        else:
            counted = reads.summarise(contract, [lambda lf: lf.select(pl.len())])[0]
            heights[contract.table_id] = int(counted.item())
    return heights


@partition_check(MANIFEST_KEY, "index_deterministic", additional_deps=_others(MANIFEST_KEY),
                 description="Rebuilding the indexes from evidence in memory gives the stored rows: every index "
                 "(its index_hash) with EVIDENCE_LAKE_CHECK_SAMPLE=all; by default the rows of a seeded sample "
                 "of files, plus df, document lengths and symbol-id numbers re-derived from all stored rows.")
def index_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    try:
        sample = _sample(reads)
    except CheckSampleError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc))
    if not sample.whole:
        return _index_sample_deterministic(reads, sample)
    stored = reads.table(INDEX_MANIFEST).select("index_name", "rows", "index_hash", "evidence_hash")
    rebuilt = _rebuilt(reads).manifest.select(
        "index_name", "rows", "index_hash", "evidence_hash")
    tables = pl.DataFrame({"index_name": [c.table_id for c in INDEX_TABLES], "table_hash": [
        _stored_hash(reads, c) for c in INDEX_TABLES]})
    diff = stored.join(rebuilt, on="index_name", how="full", suffix="_rebuilt", coalesce=True).join(
        tables, on="index_name", how="full", coalesce=True).filter(
        (pl.col("index_hash") != pl.col("index_hash_rebuilt")) | pl.col("index_hash").is_null()
        | pl.col("index_hash_rebuilt").is_null() | (pl.col("evidence_hash") != pl.col("evidence_hash_rebuilt"))
        | (pl.col("table_hash") != pl.col("index_hash_rebuilt")) | pl.col("table_hash").is_null()
        | (pl.col("rows") != pl.col("rows_rebuilt")))
    return dg.AssetCheckResult(passed=diff.height == 0 and stored.height == len(INDEX_TABLES),
                               description=f"{diff.height} indexes differ from a rebuild: "
                               f"{diff['index_name'].to_list()}" if diff.height else None,
                               metadata={"indexes": stored.height, "differences": md_table(diff.to_dicts()),
                                         "sample": sample.describe()})


def _index_sample_deterministic(reads: PartitionReads, sample: Sample) -> dg.AssetCheckResult:
    rebuilt = _rebuilt_sample(reads)
    diffs = [*sample_differences(_stored_sample(reads), rebuilt),
             *aggregate_differences(_stored_aggregates(reads), _postings(reads), reads.partition[0]),
             *manifest_differences(_heights(reads), reads.table(INDEX_MANIFEST), _stored_hash(reads, EVIDENCE_RECORDS))]
    return dg.AssetCheckResult(passed=not diffs, description="; ".join(diffs) or None, metadata={
        "sample": sample.describe(), "units_recomputed": len(sample.units),
        "records_recomputed": rebuilt.evidence_ids.len(), "differences": len(diffs)})


@partition_check(dg.AssetKey(INDEX_TERMS.asset_key), "index_rebuild_equivalence",
                 additional_deps=_others(dg.AssetKey(INDEX_TERMS.asset_key)),
                 description="A fixed query set gives identical ranked results on the stored and a rebuilt index "
                 "(by default over a seeded sample of files, scored with the whole partition's statistics).")
def index_rebuild_equivalence(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    try:
        sample = _sample(reads)
    except CheckSampleError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc))
    stats = reads.table(INDEX_TERM_STATS)
    if sample.whole:
        stored = SearchIndex(reads.table(INDEX_TERMS), reads.table(INDEX_DOCUMENTS), stats, [partition])
        tables = _rebuilt(reads).tables
        rebuilt = SearchIndex(tables["index/terms"], tables["index/documents"], tables["index/term_stats"],
                              [partition])
    else:  # the sampled documents, stored and rebuilt, each scored with the stored partition's N, avgdl and df
        lengths = _stored_aggregates(reads)[INDEX_DOCUMENTS.table_id]["doc_len"]
        corpus = (lengths.len(), float(lengths.mean()) if lengths.len() else 0.0)
        tables = _rebuilt_sample(reads).build.tables
        # only the df of terms either side has a posting of: a term without postings adds to no score, and the
        # partition's whole vocabulary took half the check (1M kb lines: 1.6M terms, 4.6 of 9.1 s)
        postings = pl.concat([_sampled_postings(reads)["term"], tables["index/terms"]["term"]]).unique()
        stats = stats.filter(pl.col("term").is_in(postings.implode()))
        stored = SearchIndex(_sampled_postings(reads), _stored_sample(reads)[INDEX_DOCUMENTS.table_id], stats,
                             [partition], corpus=corpus)
        rebuilt = SearchIndex(tables["index/terms"], tables["index/documents"], stats, [partition], corpus=corpus)
    queries = fixed_queries(stored.documents)
    mismatches = [q for q in queries if rank_signature(stored.search(q)) != rank_signature(rebuilt.search(q))]
    return dg.AssetCheckResult(passed=not mismatches, description=f"{len(mismatches)} queries rank differently"
                               if mismatches else None,
                               metadata={"queries": dg.MetadataValue.json(queries), "mismatches": len(mismatches),
                                         "sample": sample.describe()})


@partition_check(dg.AssetKey(INDEX_DOCUMENTS.asset_key), "index_referential", blocking=True,
                 additional_deps=_others(dg.AssetKey(INDEX_DOCUMENTS.asset_key)),
                 description="Every evidence_id in every index table exists in evidence/records of the partition.")
def index_referential(reads: PartitionReads) -> dg.AssetCheckResult:
    # Series.unique: a frame's unique over 5M postings held +260 MiB, the column's +25 MiB
    known = reads.columns(EVIDENCE_RECORDS, ["evidence_id"])["evidence_id"].unique().to_frame()
    dangling = {}
    for contract in INDEX_TABLES:
        if "evidence_id" not in contract.polars_schema:
            continue
        if contract is INDEX_TERMS and not reads.holds(contract):  # the postings' ids as 128-bit hashes, scanned
            missing = _postings(reads).by_document.join(known.select(id_hashes()), on=["id_h1", "id_h2"],
                                                        how="anti")
        else:
            ids = reads.columns(contract, ["evidence_id"])["evidence_id"].unique().to_frame()
            missing = ids.join(known, on="evidence_id", how="anti")
        if missing.height:
            dangling[contract.table_id] = missing.height
    return dg.AssetCheckResult(passed=not dangling, metadata={"dangling": dg.MetadataValue.json(dangling)},
                               description=f"dangling evidence ids: {dangling}" if dangling else None)


# The per-record tables are never read whole by the default (sampled) rules, only sampled rows and projections:
# their schema is checked a row group at a time. term_stats (every term's df) is read whole.
INDEX_RULES: list[PartitionCheck] = [*(schema_check(c, streamed=c in PER_RECORD) for c in (*INDEX_TABLES,
                                                                                       INDEX_MANIFEST)),
                                     index_deterministic, index_rebuild_equivalence, index_referential]
INDEX_CHECKS = [check_step("index_checks", INDEX_RULES,
                           "Schema, referential integrity, determinism and rebuild equivalence of index/*.")]
