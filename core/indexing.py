"""Indexes of one evidence partition: sections, symbols, documents, postings, term stats, manifest.

Indexes are derived, rebuildable caches (DESIGN §1.6): everything here is a pure
function of the evidence rows, so dropping the tables and rebuilding gives identical
rows and identical search results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import orjson
import polars as pl

from core.canonical import content_id
from core.content_hash import content_hash
from core.contracts import (
    EVIDENCE_RECORDS,
    INDEX_DOCUMENTS,
    INDEX_MANIFEST,
    INDEX_SECTIONS,
    INDEX_SYMBOLS,
    INDEX_TABLES,
    INDEX_TERM_STATS,
    INDEX_TERMS,
    typed_series,
)
from core.perf import paused_gc
from core.progress import Progress
from core.tokenize import term_counts

MAX_DOC_CHARS = 20_000  # text indexed per evidence record
SNIPPET_CHARS = 200
INDEX_BUILDER_VERSION = "2"  # bump whenever a change here alters any index row: prior rows are reused by it
TOKENISE_CHUNK_DOCS = 10_000  # documents indexed at once: bounds token frames (stdlib: 20k +227 MiB, 10k +177)
NAME_BOOST = 5  # a symbol's name counts this many times: hit@1 0.964 at 3, 0.975 at 5 (750 stdlib names)
SEARCHABLE_KINDS = ("section", "symbol", "diagnostic", "session", "replay_run", "review_finding", "audit_score",
                    "event")
# Lint findings are answered by SQL (q_files_with_diagnostics); 25k "unused import" documents in BM25 only crowd
# out the definitions and sections a search is for. Import and link edges are SQL questions too (q_importers).
NOT_SEARCHED_EXTRACTORS = ("ruff_diagnostics",)


@dataclass
class IndexBuild:
    tables: dict[str, pl.DataFrame]  # table_id -> frame
    manifest: pl.DataFrame | None  # None when built without one (a sampled check)
    reused: int = 0  # documents whose rows were copied from a prior index
    searched: int = 0  # evidence records of the kinds an index holds
    evidence_hash: str = ""  # content hash of the evidence it was built from ("" when built without a manifest)


def _strings(value: object, out: list[str], budget: int = MAX_DOC_CHARS) -> None:
    """Every string inside a JSON value (depth-first), until the budget is spent."""
    stack = [value]
    used = 0
    while stack and used < budget:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
            used += len(node)
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def boost_text(kind: str, payload: dict) -> str:
    """Extra copies of a symbol's name or a section's heading path, counted by BM25 but never shown.

    Together with the one copy in ``document_text`` the title counts NAME_BOOST times, so a
    definition outranks its mentions and a section outranks pages that only mention its
    heading words (this repo's README: section tasks hit@10 0.81 -> 0.95); snippets show the
    evidence text only.
    """
    if kind == "section":
        return " ".join([" ".join(payload.get("heading_path") or [])] * (NAME_BOOST - 1))
    if kind != "symbol":
        return ""
    return " ".join([str(payload.get("name") or "")] * (NAME_BOOST - 1))


def document_text(kind: str, path: str, payload: dict) -> tuple[str, str]:
    """(title, text) that represent one evidence record in the search index (and its snippet)."""
    p = payload
    if kind == "section":
        trail = " › ".join(p.get("heading_path") or []) or path
        return trail, f"{trail}\n{p.get('text', '')}"
    if kind == "symbol":
        parts = [str(p.get("name") or ""), p.get("qualified_name", ""), p.get("signature") or "",
                 p.get("doc") or "", " ".join(p.get("decorators") or [])]
        return p.get("qualified_name", path), "\n".join(parts)
    if kind == "diagnostic":
        return f"{p.get('code', 'diagnostic')} in {path}", f"{p.get('code', '')} {p.get('message', '')} {path}"
    if kind == "session":
        title = f"session {p.get('session_id', '?')} ({p.get('outcome', '?')})"
        return title, " ".join(str(p.get(k, "")) for k in ("kind", "model", "outcome", "prompt", "response"))
    if kind == "review_finding":
        return str(p.get("summary") or p.get("finding_id") or "finding"), " ".join(
            str(p.get(k, "")) for k in ("summary", "where", "severity", "disposition", "rationale", "bundle"))
    strings: list[str] = []
    _strings(p, strings)
    title = str(p.get("audit") or p.get("run_id") or p.get("schema") or kind)
    return title, " ".join(strings)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


@dataclass
class PriorIndex:
    """Index rows of an earlier build by this same builder (``INDEX_BUILDER_VERSION``), for reuse.

    Every row of documents, terms, sections and symbols depends on one evidence record alone
    (its id covers kind, path, locator and payload; its line numbers are compared), so the rows
    of an unchanged record are copied instead of rebuilt. df, symbol numbering and the manifest
    depend on the whole partition and are always derived again.
    """

    documents: pl.DataFrame
    terms: pl.DataFrame
    sections: pl.DataFrame
    symbols: pl.DataFrame


def build_indexes(records: pl.DataFrame | Callable[[], pl.DataFrame], source: str, day: dt.date,
                  prior: PriorIndex | None = None, with_manifest: bool = True,
                  evidence_hash: str | None = None, hash_tables: bool = True,
                  report: Callable[[str], None] | None = None) -> IndexBuild:
    """All index tables for one partition of evidence/records, copying ``prior``'s rows of unchanged records.

    The result is the same, row for row, with or without ``prior`` (test). ``with_manifest=False``
    skips hashing every table for the manifest (``manifest`` is then None): a sampled check
    compares rows under its own keys and never reads it. ``records`` needs only ``INDEX_INPUT``
    when ``evidence_hash`` (the partition's content hash, for the manifest) is given.

    ``hash_tables=False`` leaves the manifest to the caller (``manifest_of``), with the evidence hash
    in ``evidence_hash``: the asset hashes each table as the writer stores it, beside its Parquet write,
    instead of all of them before the first write.

    ``records`` may be a function that reads them: the build then holds the only reference and drops
    the evidence once it has taken the rows it indexes (a caller's frame stays alive for the whole
    build: 4x stdlib, the evidence's strings held through the sort and the hashing).

    ``report`` receives a progress message now and then (``core.progress``): documents indexed, then
    the phase under way.
    """
    with paused_gc():
        return _build(records, source, day, prior, with_manifest, evidence_hash, hash_tables, report)


# the evidence columns an index is built from; the others (locator, object, hashes, times) are not read
INDEX_INPUT = ("evidence_id", "kind", "extractor", "path", "line_start", "line_end", "payload")


def searched() -> pl.Expr:
    """The evidence rows that become documents: the searchable kinds, lint findings aside. A reader can
    apply it inside the scan: the other rows (lint findings, import edges, metrics) never reach an index."""
    return pl.col("kind").is_in(SEARCHABLE_KINDS) & ~pl.col("extractor").is_in(NOT_SEARCHED_EXTRACTORS)


def reusable_ids(rows: pl.DataFrame, records: pl.DataFrame, prior: PriorIndex) -> pl.Series:
    """Evidence ids of ``rows`` whose prior document has the same kind, path and line (and, for a
    section, the same end line): their index rows are what a rebuild would make."""
    current = rows.select("evidence_id", "kind", "path", pl.col("line_start").alias("line"))
    same = current.join(prior.documents.select("evidence_id", "kind", "path", "line"),
                        on=["evidence_id", "kind", "path", "line"], how="semi", nulls_equal=True)
    spans = records.filter(pl.col("kind") == "section").select("evidence_id", "line_start", "line_end")
    moved = spans.join(prior.sections.select("evidence_id", "line_start", "line_end"),
                       on=["evidence_id", "line_start", "line_end"], how="anti", nulls_equal=True)
    return same.filter(~pl.col("evidence_id").is_in(moved["evidence_id"].implode()))["evidence_id"]


def _build(records: pl.DataFrame | Callable[[], pl.DataFrame], source: str, day: dt.date, prior: PriorIndex | None,
           with_manifest: bool, evidence_hash: str | None, hash_tables: bool,
           report: Callable[[str], None] | None) -> IndexBuild:
    if callable(records):
        records = records()
    rows = records.filter(searched()).select(
        *CHUNK_COLUMNS).sort("evidence_id")
    if with_manifest and evidence_hash is None:
        evidence_hash = content_hash(records, EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile)
    del records  # the rows share its strings: once chunked, they are freed (when the caller holds no reference)
    searched_count = rows.height
    # the rows hold every section (a searched kind) with its lines
    reused = reusable_ids(rows, rows, prior) if prior is not None else pl.Series("evidence_id", [], pl.Utf8)
    if reused.len():
        rows = rows.filter(~pl.col("evidence_id").is_in(reused.implode()))
    progress = Progress("indexed", rows.height, "documents", report)
    parts = []
    for part in iter_document_chunks(rows, source):
        parts.append(part)
        progress.advance(part.documents.height)
    del rows
    # documents are numbered in evidence_id order across chunks, so row numbers sort as the ids do
    docs = pl.concat([p.documents for p in parts])
    counted = pl.concat([p.counted for p in parts])
    sections = pl.concat([p.sections for p in parts])
    symbol_rows = pl.concat([p.symbols for p in parts])
    del parts
    # in_term_order gathers doc and tf: in one chunk each, made here a column at a time as the chunks are
    # freed (made inside it, both copies stood beside the chunks at its peak: 1M kb lines +359 MiB)
    for column in ("doc", "tf"):
        counted = counted.with_columns(counted[column].rechunk())
    # one chunk: a gather from a many-chunk string column copied the strings (4x stdlib: +360 MiB, one: +80)
    ids = docs["evidence_id"].rechunk()
    progress.note(f"all {progress.total:,} documents tokenised; putting {counted.height:,} postings in term order")
    postings = in_term_order(counted)
    del counted
    lengths = postings.group_by("doc").agg(pl.col("tf").sum().alias("doc_len"))
    docs = docs.with_row_index("doc").join(lengths, on="doc", how="inner", maintain_order="left").drop("doc")
    postings = postings.select("term", ids.gather(postings["doc"]).alias("evidence_id"), "tf")
    indexed = pl.col("evidence_id").is_in(docs["evidence_id"].implode())  # a document without a term is dropped
    sections = sections.filter(indexed)
    symbol_rows = symbol_rows.filter(indexed)
    tables = {
        INDEX_DOCUMENTS.table_id: INDEX_DOCUMENTS.frame(docs, source, day),
        INDEX_TERMS.table_id: INDEX_TERMS.frame(postings, source, day),
        INDEX_SECTIONS.table_id: INDEX_SECTIONS.frame(sections, source, day),
    }
    del docs, postings
    if reused.len():
        # copied rows joined with the rebuilt ones, in the order a full build gives: evidence id order,
        # postings by term then evidence id (a full build numbers documents in evidence id order)
        copied = pl.col("evidence_id").is_in(reused.implode())
        for contract, frame, order in ((INDEX_DOCUMENTS, prior.documents, ["evidence_id"]),
                                       (INDEX_TERMS, prior.terms, ["term", "evidence_id"]),
                                       (INDEX_SECTIONS, prior.sections, ["evidence_id"])):
            fresh = tables[contract.table_id]
            tables[contract.table_id] = pl.concat([fresh, contract.frame(frame.filter(copied), source, day)]).sort(
                order)
        symbol_rows = pl.concat([symbol_rows, prior.symbols.filter(copied).select(
            [pl.col(c).cast(INDEX_SYMBOLS.polars_schema[c]) for c in _SYMBOL_COLUMNS])])
    tables[INDEX_SYMBOLS.table_id] = INDEX_SYMBOLS.frame(with_symbol_ids(symbol_rows, source), source, day)
    stats = sorted_document_frequencies(tables[INDEX_TERMS.table_id]["term"])
    if with_manifest and hash_tables:
        progress.note(f"hashing the {len(tables) + 1} index tables for the manifest")
    tables[INDEX_TERM_STATS.table_id] = INDEX_TERM_STATS.frame(stats, source, day)
    evidence_hash = evidence_hash or ""
    return IndexBuild(tables, manifest(tables, evidence_hash, source, day) if with_manifest and hash_tables else None,
                      reused.len(), searched_count, evidence_hash)


def in_term_order(counted: pl.DataFrame) -> pl.DataFrame:
    """(term, doc, tf) sorted by term, then doc: what ``sort("term", "doc")`` gives, in less time and memory.

    A term becomes its rank in the sorted vocabulary (an enum of it) and each posting one 64-bit key
    (rank, doc), sorted by one arg_sort; the terms are gathered back from the vocabulary, sharing its
    strings. The multi-column sort row-encoded every term: 4x the stdlib's 4.95M postings +280 MiB
    and 2.0-2.5 s, this way +190 MiB and 1.0 s, the same rows. 30M postings (1M synthetic sections):
    7.8-10.1 -> 4.1-6.0 s (a noisy host) with the streaming passes and single-chunk columns below.
    """
    # both passes over the terms on the streaming engine, which spreads them over the cores: 30M postings in
    # 400 chunks, unique 1.6 -> 0.5 s and the enum 3.1 -> 1.5 s against the Series methods
    terms = counted.lazy().select("term")
    vocabulary = terms.unique().collect(engine="streaming")["term"].sort()
    # one chunk each (a chunk per 10k documents as built): gathers from 400 chunks ran 3.3 s, from one 0.9 s;
    # the build hands doc and tf over in one chunk already (their rechunk is then free)
    rank = terms.select(pl.col("term").cast(pl.Enum(vocabulary)).to_physical()).collect(
        engine="streaming")["term"].rechunk()
    doc, tf = counted["doc"].rechunk(), counted["tf"].rechunk()
    order = (rank.cast(pl.UInt64) * (1 << 32) + doc.cast(pl.UInt64)).arg_sort()
    return pl.DataFrame({"term": vocabulary.gather(rank.gather(order)), "doc": doc.gather(order),
                         "tf": tf.gather(order)})


def sorted_document_frequencies(terms: pl.Series) -> pl.DataFrame:
    """(term, df) of postings already in term order: each term's run of rows is its df (no grouping)."""
    runs = terms.rle()
    return pl.DataFrame({"term": runs.struct.field("value"), "df": runs.struct.field("len").cast(pl.Int64)})


def document_frequencies(terms: pl.LazyFrame) -> pl.LazyFrame:
    """(term, df) in term order: the postings of each term, in any order. The index check re-derives df this
    way from a scan of the stored postings (the build, whose postings are in term order, counts runs).

    Collect it on polars' streaming engine: grouping 5M postings in memory held +450 MiB, streamed +7 MiB.
    """
    return terms.group_by("term").agg(pl.len().cast(pl.Int64).alias("df")).sort("term")


CHUNK_COLUMNS = ("evidence_id", "kind", "path", "line_start", "line_end", "payload")


@dataclass
class DocumentChunk:
    """The index rows of one chunk of documents; ``counted`` numbers them from the chunk's first."""

    documents: pl.DataFrame  # evidence_id, kind, path, line, title, snippet
    counted: pl.DataFrame  # term, doc, tf
    sections: pl.DataFrame  # the index/sections columns but the stamped ones
    symbols: pl.DataFrame  # _SYMBOL_COLUMNS


def chunk_rows(rows: pl.DataFrame, source: str) -> tuple[DocumentChunk, list[str]]:
    """Documents, sections and symbols of ``rows`` (CHUNK_COLUMNS, evidence_id order), and the text of each
    document, whose term counts (``counted``, left empty here) ``iter_document_chunks`` adds.

    Each row's index rows depend on that row alone, so chunks concatenated in order give the
    rows of one pass: the bytes do not depend on the chunk size (test).
    """
    docs: dict[str, list] = {k: [] for k in ("evidence_id", "kind", "path", "line", "title", "snippet")}
    sections: dict[str, list] = {c: [] for c in _SECTION_COLUMNS}
    symbols: list[tuple] = []
    texts: list[str] = []
    for evidence_id, kind, path, line, line_end, payload_text in rows.iter_rows():
        try:
            payload = orjson.loads(payload_text)
            if not isinstance(payload, dict):
                payload = {"value": payload}
            title, text = document_text(kind, path, payload)
            docs["evidence_id"].append(evidence_id)
            docs["kind"].append(kind)
            docs["path"].append(path)
            docs["line"].append(line)
            docs["title"].append(title[:SNIPPET_CHARS])
            docs["snippet"].append(_snippet(text))
            texts.append(f"{boost_text(kind, payload)} {text[:MAX_DOC_CHARS]} {path}")
            if kind == "section":
                content = payload.get("content_hash")
                sections["path"].append(path)
                sections["heading"].append(payload.get("heading", ""))
                sections["level"].append(int(payload.get("level", 0)))
                sections["heading_path"].append(list(payload.get("heading_path") or []))
                sections["line_start"].append(line)
                sections["line_end"].append(line_end)  # the evidence row holds it (the payload does not)
                sections["content_hash"].append(content)
                sections["evidence_id"].append(evidence_id)
                sections["section_id"].append(content_id({"source": source, "path": path, "line_start": line,
                                                          "line_end": line_end, "content_hash": content}))
            elif kind == "symbol":
                symbols.append(_symbol_row(path, line, payload, evidence_id))
        except (TypeError, ValueError, AttributeError) as exc:  # our extractors' shapes are a contract: say whose
            raise ValueError(f"evidence/records row {evidence_id} ({kind} in {path}): its payload does not have "
                             f"the shape its extractor writes ({type(exc).__name__}: {exc})") from exc
    schema = INDEX_SECTIONS.polars_schema
    return DocumentChunk(
        documents=pl.DataFrame(docs, schema={"evidence_id": pl.Utf8, "kind": pl.Utf8, "path": pl.Utf8,
                                             "line": pl.Int64, "title": pl.Utf8, "snippet": pl.Utf8}),
        counted=_term_counts(0, []),
        sections=pl.DataFrame([typed_series(c, sections[c], schema[c]) for c in _SECTION_COLUMNS]),
        symbols=pl.DataFrame(symbols, schema={c: INDEX_SYMBOLS.polars_schema[c] for c in _SYMBOL_COLUMNS},
                             orient="row")), texts


def iter_document_chunks(rows: pl.DataFrame, source: str) -> Iterator[DocumentChunk]:
    """``chunk_rows`` of consecutive chunks of ``rows`` with their term counts, in order, in this process.

    A chunk's terms are counted by polars in a thread (which releases the GIL) while this thread
    runs the next chunk's per-document Python: the two overlap instead of taking turns, and at
    most one chunk's texts wait. A spawn pool gave the same tables and no speed-up on 2 cores
    (stdlib, 86k documents: 3.2 s pooled against 2.6 s; 1M synthetic sections: 79.6 s against
    81.3 s): polars already counts on every core, and each chunk crosses the process boundary twice.
    Tried again with the warm pool and chunks sent as Arrow (each worker making a chunk's rows and counting
    them), on a 1M-line kb day: 33.6-37.6 s against 33.0-37.3 s here.
    """
    size = TOKENISE_CHUNK_DOCS
    with ThreadPoolExecutor(1, thread_name_prefix="term-counts") as counter:
        pending: tuple[DocumentChunk, Future] | None = None
        for start in range(0, max(rows.height, 1), size):
            chunk, texts = chunk_rows(rows.slice(start, size), source)
            counting = counter.submit(_term_counts, start, texts)
            del texts
            if pending is not None:
                yield _counted(*pending)
            pending = chunk, counting
        if pending is not None:
            yield _counted(*pending)


def _counted(chunk: DocumentChunk, counting: Future) -> DocumentChunk:
    chunk.counted = counting.result()
    return chunk


_SECTION_COLUMNS = ("path", "heading", "level", "heading_path", "line_start", "line_end", "content_hash",
                    "evidence_id", "section_id")
_SYMBOL_COLUMNS = ("qualified_name", "name", "kind", "path", "line", "line_end", "signature", "doc", "evidence_id")


def _term_counts(first_doc: int, texts: list[str]) -> pl.DataFrame:
    """(term, doc, tf) of ``texts``, the documents numbered from ``first_doc``; a chunk at a time bounds memory."""
    if not texts:
        return pl.DataFrame(schema={"term": pl.Utf8, "doc": pl.UInt32, "tf": pl.Int64})
    counted = term_counts(list(range(first_doc, first_doc + len(texts))), texts)
    return counted.select("term", pl.col("id").alias("doc"), "tf")


def _symbol_row(path: str, line: int, payload: dict, evidence_id: str) -> tuple:
    """The index/symbols columns of one symbol evidence record (not its id: ``with_symbol_ids``)."""
    qual = payload.get("qualified_name", "")
    return (qual, payload.get("name", qual.rsplit(".", 1)[-1]), payload.get("symbol_kind", "symbol"), path, line,
            int(payload.get("line_end", line)), payload.get("signature"), payload.get("doc"), evidence_id)


def with_symbol_ids(symbols: pl.DataFrame, source: str) -> pl.DataFrame:
    """symbol_id = @SOURCE/qualified.name; a clash is numbered #2, #3 … in (path, line, evidence_id) order.

    The numbering depends on every symbol of the partition, so the sampled index check
    re-derives it from the stored rows with this same function.
    """
    ordered = symbols.sort("qualified_name", "path", "line", "evidence_id")
    # rows of one name are one run after the sort: number each row from its run's first row (a window
    # expression over the name did the same in 2-3x the time)
    run = ordered["qualified_name"].rle_id().to_numpy()
    first = np.flatnonzero(np.diff(run, prepend=-1)) if run.size else np.zeros(0, dtype=np.int64)
    n = pl.Series(np.arange(run.size, dtype=np.int64) - first[run] + 1)
    suffix = pl.when(pl.lit(n) > 1).then(pl.lit("#") + pl.lit(n).cast(pl.Utf8)).otherwise(pl.lit(""))
    return ordered.with_columns((pl.lit(f"@{source}/") + pl.col("qualified_name") + suffix).alias("symbol_id"))


def manifest(tables: dict[str, pl.DataFrame], evidence_hash: str, source: str, day: dt.date) -> pl.DataFrame:
    """Rows and index_hash of each index, and the content hash of the evidence they were built from."""
    return manifest_of({c.table_id: tables[c.table_id].height for c in INDEX_TABLES},
                       {c.table_id: content_hash(tables[c.table_id], c.key, c.volatile) for c in INDEX_TABLES},
                       evidence_hash, source, day)


def manifest_of(rows: dict[str, int], hashes: dict[str, str], evidence_hash: str, source: str,
                day: dt.date) -> pl.DataFrame:
    """index/manifest from each index table's rows and content hash (by table id), in INDEX_TABLES order."""
    names = [c.table_id for c in INDEX_TABLES]
    return INDEX_MANIFEST.frame({"index_name": names, "rows": [rows[n] for n in names],
                                 "index_hash": [hashes[n] for n in names],
                                 "evidence_hash": [evidence_hash] * len(names)}, source, day)
