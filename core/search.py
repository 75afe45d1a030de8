"""BM25 search over index/terms, importable from notebooks.

    from core.search import SearchIndex
    index = SearchIndex.load("data/lake")            # latest day with data, every source
    index.search("write partitions", k=10)

Statistics are computed over the loaded partitions together: N and avgdl from
index/documents, df as the sum of per-partition df (documents of different partitions
are different documents). Ties are broken by evidence_id so results are stable.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from core.content_hash import strictly_ordered
from core.contracts import INDEX_DOCUMENTS, INDEX_TERM_STATS, INDEX_TERMS
from core.lake import Partition, list_partitions, open_table, read_partitions, summarise_partition
from core.tokenize import DEFAULT_STOP_WORDS, MAX_QUERY_CHARS, query_terms
from core.verified import verify_table

K1, B = 1.2, 0.75  # BM25's usual parameters: the defaults of every search


class SearchError(ValueError):
    """The query or the selection cannot be searched; the message says what to change."""


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    evidence_id: str
    source: str
    day: dt.date
    kind: str
    path: str
    line: int | None
    title: str
    snippet: str

    def location(self) -> str:
        return f"{self.path}:{self.line + 1}" if self.line is not None else self.path

    def as_json(self) -> dict:
        out = asdict(self)
        out["day"] = self.day.isoformat()
        out["location"] = self.location()
        return out


def latest_partitions(root: str, sources: Sequence[str] | None = None, day: dt.date | None = None,
                      storage_options: dict[str, str] | None = None) -> list[Partition]:
    """The partitions to search: ``day`` for each source, or each source's latest indexed day."""
    parts = list_partitions(root, INDEX_DOCUMENTS, storage_options)
    if sources:
        parts = [p for p in parts if p[0] in set(sources)]
    if day is not None:
        return [p for p in parts if p[1] == day]
    latest: dict[str, dt.date] = {}
    for source, d in parts:
        latest[source] = max(d, latest.get(source, d))
    return sorted(latest.items())


class SearchIndex:
    """Postings, document lengths and df of some partitions, held in memory for repeated queries."""

    def __init__(self, terms: pl.DataFrame, documents: pl.DataFrame, stats: pl.DataFrame,
                 partitions: Sequence[Partition], stop_words=DEFAULT_STOP_WORDS,
                 corpus: tuple[int, float] | None = None) -> None:
        """``corpus`` = (N, avgdl) of a larger index these documents belong to (a sampled check scores a
        subset exactly as the whole would); by default both come from ``documents``."""
        documents = _in_tie_order(documents)
        vocabulary = _vocabulary(stats)
        one_partition = documents.select("source", "day").n_unique() <= 1

        def postings_of(source: str, day: dt.date, columns: list[pl.Expr]) -> pl.DataFrame:
            mine = terms if one_partition else terms.filter((pl.col("source") == source) & (pl.col("day") == day))
            return mine.select(columns)

        self._setup(_numbered_postings(documents, vocabulary, postings_of), vocabulary, documents, stats, partitions,
                    stop_words, corpus)

    def _setup(self, postings: pl.DataFrame, vocabulary: pl.Series, documents: pl.DataFrame, stats: pl.DataFrame,
               partitions: Sequence[Partition], stop_words, corpus: tuple[int, float] | None) -> None:
        self.documents = documents  # in result tie order; a document is its row number here
        runs = postings["term"].rle()  # each term's postings (the term as its vocabulary rank): one run of rows
        lengths = runs.struct.field("len")
        ends = lengths.cum_sum().to_list()
        self._spans = {t: (end - n, end) for t, n, end in zip(vocabulary.gather(runs.struct.field("value")).to_list(),
                                                              lengths.to_list(), ends, strict=True)}
        self._doc = postings["doc"].to_numpy()
        self._tf = postings["tf"].to_numpy().astype(np.float64)
        del postings
        self._doc_lens = self.documents["doc_len"].to_numpy().astype(np.float64)  # per document
        self.df = stats.group_by("term").agg(pl.col("df").sum())
        self._df = dict(self.df.iter_rows())  # term -> df, looked up per query term
        self.partitions = list(partitions)
        self.stop_words = stop_words
        self.n_docs = documents.height
        self.avgdl = float(documents["doc_len"].mean()) if documents.height else 0.0
        if corpus is not None:
            self.n_docs, self.avgdl = corpus
        self._default_norm = self._norm(0, len(self._tf), K1, B)  # every posting's, for the default k1 and b

    def _norm(self, lo: int, hi: int, k1: float, b: float) -> np.ndarray:
        """BM25's denominator ``tf + k1 * (1 - b + b * doc_len / avgdl)`` of postings ``lo:hi``.

        It does not depend on the query, so for the default k1 and b it is made once at load: a query then
        costs three vector operations per term instead of eight. Made by the same expression in the same
        order, it gives the same floats as computing it per query (scores are bit for bit the same).
        """
        norm = self._doc_lens[self._doc[lo:hi]]  # in place from here: one array of the postings' length at a time
        norm *= b
        norm /= self.avgdl
        norm += 1 - b  # IEEE addition and multiplication commute exactly: these are the expression's floats
        norm *= k1
        norm += self._tf[lo:hi]
        return norm

    @classmethod
    def load(cls, root: str, sources: Sequence[str] | None = None, day: dt.date | None = None,
             partitions: Sequence[Partition] | None = None, storage_options: dict[str, str] | None = None
             ) -> SearchIndex:
        """The index of ``partitions`` (default: each source's latest day, or ``day``), read from the lake.

        The postings are verified (unless verification is off), then scanned: only their term, tf and
        id, the term cast to its vocabulary rank and the id to its document's number inside the scan, so
        no term or 64-character id string is held (4x the stdlib's 4.95M postings: +650 MiB read whole).
        """
        parts = list(partitions) if partitions is not None else latest_partitions(root, sources, day,
                                                                                   storage_options)
        if not parts:
            what = f"source(s) {list(sources)}" if sources else "any source"
            when = f" on {day}" if day else ""
            raise SearchError(f"no index for {what}{when}: materialise the index assets first "
                              "(`evidence-lake run`), or pick another --day/--source")
        terms = open_table(root, INDEX_TERMS, storage_options)
        verify_table(root, INDEX_TERMS, storage_options, terms, parts)  # hashes only partitions never verified
        documents = _in_tie_order(read_partitions(root, INDEX_DOCUMENTS, parts, storage_options))
        stats = read_partitions(root, INDEX_TERM_STATS, parts, storage_options)
        vocabulary = _vocabulary(stats)

        def postings_of(source: str, day: dt.date, columns: list[pl.Expr]) -> pl.DataFrame:
            return summarise_partition(root, INDEX_TERMS, (source, day), [lambda lf: lf.select(columns)],
                                       storage_options, terms)[0]

        index = cls.__new__(cls)
        index._setup(_numbered_postings(documents, vocabulary, postings_of), vocabulary, documents, stats, parts,
                     DEFAULT_STOP_WORDS, None)
        return index

    def search(self, query: str, k: int = 10, k1: float = K1, b: float = B) -> list[Hit]:
        if not isinstance(query, str) or not query.strip():
            raise SearchError("empty query: give one or more words to search for")
        if k < 1:
            raise SearchError("k must be at least 1")
        terms = query_terms(query, self.stop_words)
        if not terms:
            cut = f" (after the first {MAX_QUERY_CHARS} characters)" if len(query) > MAX_QUERY_CHARS else ""
            raise SearchError(f"the query has no searchable words{cut}: only stop words, punctuation or symbols")
        if self.n_docs == 0:
            return []
        scores = np.zeros(self.documents.height, dtype=np.float64)
        for term in terms:
            lo, hi = self._spans.get(term, (0, 0))
            df = self._df.get(term)
            if hi == lo or df is None:
                continue
            idf = math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5))
            norm = self._default_norm[lo:hi] if (k1, b) == (K1, B) else self._norm(lo, hi, k1, b)
            # one posting per (term, document): a plain scatter-add, summed in query-term order (deterministic)
            scores[self._doc[lo:hi]] += idf * self._tf[lo:hi] * (k1 + 1) / norm
        matched = np.flatnonzero(scores > 0)
        if matched.size > k:  # only what can reach the k-th best score is ordered
            floor = np.partition(scores[matched], matched.size - k)[matched.size - k]
            matched = matched[scores[matched] >= floor]
        best = matched[np.lexsort((matched, -scores[matched]))][:k]
        hits = []
        for rank, doc in enumerate(best.tolist(), start=1):
            r = self.documents.row(doc, named=True)
            hits.append(Hit(rank=rank, score=round(float(scores[doc]), 6), evidence_id=r["evidence_id"],
                            source=r["source"], day=r["day"], kind=r["kind"], path=r["path"], line=r["line"],
                            title=r["title"], snippet=r["snippet"]))
        return hits


def _in_tie_order(documents: pl.DataFrame) -> pl.DataFrame:
    """Documents in result tie order (evidence_id, then partition)."""
    order = ["evidence_id", "source", "day"]
    return documents if strictly_ordered(documents, order) else documents.sort(order)


def _vocabulary(stats: pl.DataFrame) -> pl.Series:
    """Every term with a df, sorted: a posting's term is its rank here. A term without a df never scores."""
    return stats["term"].unique().sort()


def _numbered_postings(documents: pl.DataFrame, vocabulary: pl.Series,
                       postings_of: Callable[[str, dt.date, list[pl.Expr]], pl.DataFrame]) -> pl.DataFrame:
    """(term, tf, doc) with each term's postings one run of rows; term = its rank in ``vocabulary``, doc = the
    row number in ``documents``.

    ``postings_of(source, day, columns)`` gives a partition's postings selected by ``columns``: the term
    cast to an enum of the vocabulary and the id cast to an enum of the partition's document ids. Each
    becomes a 4-byte position (null when absent), so no term or id string is copied: no join table (a
    join on the 64-character ids, then a sort, held about twice the memory; a binary search over the ids
    took 3x as long), and a scan casts them as it reads. A posting without a document, or whose term has
    no df (it could never score), is dropped. Within a term's run the order does not matter: a document
    has at most one posting per term, so a query adds each score once whatever the order.
    """
    numbered = documents.select("source", "day", "evidence_id").with_row_index("doc")
    term = pl.col("term").cast(pl.Enum(vocabulary), strict=False).to_physical().alias("term")
    pieces = []
    for (source, day), docs in numbered.group_by("source", "day", maintain_order=True):
        if docs["evidence_id"].n_unique() != docs.height:
            raise SearchError(f"index/documents of {source}/{day} lists an evidence id twice: the table was "
                              "written by another tool; re-materialise the partition's index")
        at = pl.col("evidence_id").cast(pl.Enum(docs["evidence_id"]), strict=False).to_physical().alias("at")
        mine = postings_of(source, day, [term, pl.col("tf"), at])
        pieces.append(mine.select("term", "tf", docs["doc"].gather(mine["at"]).alias("doc"))
                      .filter(pl.col("doc").is_not_null() & pl.col("term").is_not_null()))
        del mine
    postings = pl.concat(pieces) if pieces else pl.DataFrame(schema={"term": pl.UInt32, "tf": pl.Int64,
                                                                     "doc": pl.UInt32})
    del pieces
    return postings if postings["term"].is_sorted() else postings.sort("term")


def search(root: str, query: str, sources: Sequence[str] | None = None, day: dt.date | None = None, k: int = 10,
           k1: float = K1, b: float = B) -> list[Hit]:
    """One-shot search (loads the index each call; keep a SearchIndex for repeated queries)."""
    return SearchIndex.load(root, sources, day).search(query, k=k, k1=k1, b=b)


def rank_signature(hits: Sequence[Hit]) -> list[tuple[str, float]]:
    """What two result lists must share to be 'identical ranked results'."""
    return [(h.evidence_id, h.score) for h in hits]


__all__ = ["Hit", "SearchError", "SearchIndex", "latest_partitions", "rank_signature", "search"]
