"""PostingsTally: the index checks' postings summary gathered a batch at a time equals the streaming queries'."""

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import INDEX_TERMS
from core.index_check import PostingsTally, postings_queries, postings_summary

TERMS = ["alpha", "beta", "gamma", "delta", "é", "z" * 40]
IDS = [f"{i:064x}" for i in range(9)]


def _postings(rows: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame({"term": [TERMS[t] for t, _, _ in rows], "evidence_id": [IDS[e] for _, e, _ in rows],
                         "tf": [tf for _, _, tf in rows]}, schema={"term": pl.Utf8, "evidence_id": pl.Utf8,
                                                                   "tf": pl.Int64})


def _comparable(summary) -> tuple:
    return (summary.by_term.rows(), summary.by_document.sort("id_h1", "id_h2").rows(), summary.rows)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, len(TERMS) - 1), st.integers(0, len(IDS) - 1), st.integers(1, 5)),
                     max_size=80),
       in_term_order=st.booleans(), cuts=st.lists(st.integers(0, 80), max_size=6),
       compact_rows=st.sampled_from([1, 7, 2_000_000]), sampled=st.sets(st.integers(0, len(IDS) - 1)))
def test_the_tally_equals_the_streaming_queries_for_any_batching(rows, in_term_order, cuts, compact_rows, sampled):
    """Stored order (by term) or any other, duplicated keys, empty batches, merges after every batch or never."""
    postings = _postings(rows)
    if in_term_order:
        postings = postings.sort("term", "evidence_id")
    expected = postings_summary([query(postings.lazy()).collect(engine="streaming") for query in postings_queries()])
    ids = pl.Series([IDS[i] for i in sorted(sampled)], dtype=pl.Utf8)
    tally = PostingsTally(ids)
    tally.COMPACT_ROWS = compact_rows
    bounds = sorted({0, postings.height, *(min(c, postings.height) for c in cuts)})
    for start, end in zip(bounds, bounds[1:], strict=False):
        tally.add(postings.slice(start, end - start))
    assert tally.complete
    assert _comparable(tally.summary()) == _comparable(expected)
    schema = {"term": pl.Utf8, "evidence_id": pl.Utf8, "tf": pl.Int64}
    assert tally.sampled(schema).equals(postings.filter(pl.col("evidence_id").is_in(ids.implode())))


def test_an_empty_tally_has_the_queries_columns_and_the_contracts():
    empty = INDEX_TERMS.empty()
    expected = postings_summary([query(empty.lazy()).collect(engine="streaming") for query in postings_queries()])
    tally = PostingsTally(pl.Series([IDS[0]]))
    summary = tally.summary()
    assert summary.by_term.schema == expected.by_term.schema and summary.by_term.height == 0
    assert summary.by_document.schema == expected.by_document.schema and summary.rows == 0
    assert tally.sampled(INDEX_TERMS.polars_schema).schema == empty.schema


@pytest.mark.parametrize("missing", ["term", "evidence_id", "tf"])
def test_a_batch_without_a_counted_column_leaves_the_tally_incomplete(missing):
    """The caller then scans instead, and the scan names the missing column."""
    tally = PostingsTally()
    tally.add(_postings([(0, 0, 1)]))
    tally.add(_postings([(1, 1, 2)]).drop(missing))
    tally.add(_postings([(2, 2, 3)]))
    assert not tally.complete
