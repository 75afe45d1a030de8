"""Index checks on a sample of units (files, blocks of stream lines): what a rebuild proves, at a tenth of its cost.

Every index row but two kinds is a function of one evidence record: a document, its postings and
its section or symbol row. Those rows are rebuilt for the sampled units' records and compared with
the stored rows of the same records. The two partition-wide parts are re-derived from the stored
rows instead: ``term_stats`` (df of every term) and document lengths from the stored postings,
symbol-id clash numbers from the stored symbols. Together: the sampled records index exactly as a
rebuild would, and every aggregate agrees with the rows it summarises.

The postings are the one table too large to hold for a check (4.95M rows at 4x the stdlib, +650 MiB
read whole): the sampled rules see them only as a ``PostingsSummary`` from streaming scans and as
the sampled records' rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from core.content_hash import first_difference, same_rows
from core.contracts import (
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_SECTIONS,
    INDEX_SYMBOLS,
    INDEX_TABLES,
    INDEX_TERM_STATS,
    INDEX_TERMS,
)
from core.indexing import IndexBuild, build_indexes, document_frequencies, with_symbol_ids

PER_RECORD = (INDEX_SECTIONS, INDEX_SYMBOLS, INDEX_DOCUMENTS, INDEX_TERMS)
# the columns of the stored tables ``aggregate_differences`` reads (besides the whole term_stats)
AGGREGATE_COLUMNS = {INDEX_DOCUMENTS.table_id: ["evidence_id", "doc_len"],
                     INDEX_SYMBOLS.table_id: ["qualified_name", "path", "line", "evidence_id", "symbol_id"]}


@dataclass
class SampledRebuild:
    """The indexes of the sampled units' evidence, and which evidence ids that covers."""

    build: IndexBuild
    evidence_ids: pl.Series


def rebuild_sample(chosen: pl.DataFrame, source: str, day: dt.date) -> SampledRebuild:
    """Indexes built from the sampled records alone (no manifest: the sample's hashes are not compared)."""
    return SampledRebuild(build_indexes(chosen, source, day, with_manifest=False), chosen["evidence_id"])


def sample_differences(stored: Mapping[str, pl.DataFrame], sample: SampledRebuild) -> list[str]:
    """Per-record index rows of the sample that differ from a rebuild (empty when they agree).

    ``symbol_id`` is left out of the comparison: its clash number depends on symbols outside
    the sample, and ``aggregate_differences`` proves it over the whole partition.
    """
    out = []
    for contract in PER_RECORD:
        mine = stored[contract.table_id].filter(pl.col("evidence_id").is_in(sample.evidence_ids.implode()))
        fresh = sample.build.tables[contract.table_id]
        drop = ["symbol_id"] if contract is INDEX_SYMBOLS else []
        key = [c for c in contract.key if c not in drop] + ["evidence_id"]
        volatile = [*contract.volatile, *drop]
        if not same_rows(mine, fresh, key, volatile):
            out.append(f"{contract.table_id}: {first_difference(mine, fresh, key, volatile)}")
    return out


ID_SEEDS = (0x5EED1, 0x5EED2)  # two 64-bit hashes of an evidence id: 128 bits, so ids never meet by chance


def id_hashes(column: str = "evidence_id") -> list[pl.Expr]:
    """``id_h1``, ``id_h2``: an id as two 64-bit hashes, for grouping postings in a streaming scan.

    Grouping 4.95M postings by the 64-character id held +550 MiB streamed; by its hashes +150–250.
    Two distinct ids share both hashes with a chance of about 2^-128 per pair. The hashes are
    polars', stable within a process, and never stored.
    """
    return [pl.col(column).hash(seed=ID_SEEDS[0]).alias("id_h1"), pl.col(column).hash(seed=ID_SEEDS[1]).alias("id_h2")]


@dataclass
class PostingsSummary:
    """What the sampled index checks need of a partition's postings, without holding them (from scans)."""

    by_term: pl.DataFrame  # term, df: the postings of each term
    by_document: pl.DataFrame  # id_h1, id_h2, doc_len_postings (sum of tf): one row per evidence id
    rows: int


def postings_queries() -> list[Callable[[pl.LazyFrame], pl.LazyFrame]]:
    """The queries of a ``PostingsSummary`` in its field order, each for a streaming scan of index/terms
    (``core.lake.summarise_partition`` runs them one at a time). Grouping by the 64-character id itself
    instead of its hashes took +550 MiB for the 4x stdlib's postings.
    """
    return [document_frequencies,
            lambda lf: lf.group_by(id_hashes()).agg(pl.col("tf").sum().alias("doc_len_postings")),
            lambda lf: lf.select(pl.len().cast(pl.Int64).alias("rows"))]


def postings_summary(results: Sequence[pl.DataFrame]) -> PostingsSummary:
    """The summary from the results of ``postings_queries``."""
    by_term, by_document, rows = results
    return PostingsSummary(by_term, by_document, int(rows.item()))


def aggregate_differences(stored: Mapping[str, pl.DataFrame], postings: PostingsSummary, source: str) -> list[str]:
    """Partition-wide index columns that disagree with the stored rows they summarise (``postings`` summarises
    the stored index/terms; ``stored`` holds term_stats and at least ``AGGREGATE_COLUMNS`` of the others)."""
    out = []
    stats = stored[INDEX_TERM_STATS.table_id].select("term", "df")
    bad = stats.join(postings.by_term, on="term", how="full", suffix="_postings").filter(
        pl.col("df").is_null() | pl.col("df_postings").is_null() | (pl.col("df") != pl.col("df_postings")))
    if bad.height:
        row = bad.sort("term", "term_postings", nulls_last=True).row(0, named=True)
        out.append(f"{INDEX_TERM_STATS.table_id}: {bad.height} terms whose df disagrees with index/terms, "
                   f"first {row}")
    docs = stored[INDEX_DOCUMENTS.table_id].select("evidence_id", "doc_len", *id_hashes())
    bad = docs.join(postings.by_document, on=["id_h1", "id_h2"], how="full", coalesce=True).filter(
        pl.col("doc_len").is_null() | pl.col("doc_len_postings").is_null()
        | (pl.col("doc_len") != pl.col("doc_len_postings")))
    if bad.height:
        row = bad.sort("evidence_id", "id_h1", nulls_last=True).drop("id_h1", "id_h2").row(0, named=True)
        out.append(f"{INDEX_DOCUMENTS.table_id}: {bad.height} documents whose doc_len is not the sum of their "
                   f"postings, first {row}" + (" (postings of an evidence id with no document)"
                                               if row["evidence_id"] is None else ""))
    symbols = stored[INDEX_SYMBOLS.table_id]
    renumbered = with_symbol_ids(symbols.drop("symbol_id"), source).select("evidence_id", "symbol_id")
    bad = symbols.select("evidence_id", "symbol_id").join(renumbered, on="evidence_id", how="full",
                                                          suffix="_expected").filter(
        pl.col("symbol_id").is_null() | pl.col("symbol_id_expected").is_null()
        | (pl.col("symbol_id") != pl.col("symbol_id_expected")))
    if bad.height:
        row = bad.sort("evidence_id", nulls_last=True).row(0, named=True)
        out.append(f"{INDEX_SYMBOLS.table_id}: {bad.height} symbol ids out of their clash order, first {row}")
    return out


def manifest_differences(heights: Mapping[str, int], manifest: pl.DataFrame, evidence_hash: str) -> list[str]:
    """The stored manifest against the stored tables (``heights``: rows of each) and evidence: one row per
    index, its row count, and the content hash of the evidence partition it was built from."""
    out = []
    rows = dict(zip(manifest["index_name"].to_list(), manifest["rows"].to_list(), strict=True))
    for contract in INDEX_TABLES:
        have = heights[contract.table_id]
        if rows.get(contract.table_id) != have:
            out.append(f"{INDEX_MANIFEST.table_id}: {contract.table_id} has {have} rows, the manifest says "
                       f"{rows.get(contract.table_id)}")
    built_from = set(manifest["evidence_hash"].to_list())
    if built_from != {evidence_hash}:
        out.append(f"{INDEX_MANIFEST.table_id}: built from evidence {sorted(built_from)}, the stored evidence "
                   f"hashes to {evidence_hash}")
    return out
