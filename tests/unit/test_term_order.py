"""in_term_order is ``sort("term", "doc")`` done another way: the same rows for any postings, in any chunking."""

import hypothesis
import hypothesis.strategies as st
import polars as pl

from core.indexing import in_term_order, sorted_document_frequencies

TERMS = st.text(alphabet=st.sampled_from(["a", "b", "z", "é", "日", "_", "1", "A"]), min_size=1, max_size=4)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(postings=st.lists(st.tuples(TERMS, st.integers(0, 2**32 - 1), st.integers(1, 50)), max_size=60,
                                    unique_by=lambda p: (p[0], p[1])),
                  cuts=st.lists(st.integers(0, 60), max_size=5))
def test_in_term_order_is_the_two_column_sort(postings, cuts):
    frame = pl.DataFrame(postings, schema={"term": pl.Utf8, "doc": pl.UInt32, "tf": pl.Int64}, orient="row")
    bounds = sorted({0, frame.height, *(c for c in cuts if c <= frame.height)})
    chunked = pl.concat([frame.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)] or [frame],
                        rechunk=False)  # as the build makes it: a chunk per batch of documents
    got = in_term_order(chunked)
    assert got.schema == frame.schema
    assert got.equals(frame.sort("term", "doc"))
    stats = sorted_document_frequencies(got["term"])
    assert stats.equals(frame.group_by("term").agg(pl.len().cast(pl.Int64).alias("df")).sort("term"))
