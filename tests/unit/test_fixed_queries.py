"""The index check's fixed queries: every title with a token, evenly spaced, as a query per title would pick."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.indexes import QUERY_COUNT, fixed_queries
from core.tokenize import query_terms


def _one_title_at_a_time(documents: pl.DataFrame) -> list[str]:
    """The reference: query_terms of each title, in evidence id order."""
    ordered = documents.sort("evidence_id")
    step = max(ordered.height // QUERY_COUNT, 1)
    return [t for t in ordered["title"].to_list() if query_terms(t)][::step][:QUERY_COUNT]


TITLES = st.one_of(
    st.sampled_from(["the of and", "", "a", "HTTPServer2 › setup", "数据 处理", "_", "x", "2", "Ünïcode Straße",
                     "write_partitions", "is it", "«»", "def __init__(self)"]),
    st.text(max_size=40))


@settings(max_examples=150, deadline=None)
@given(st.lists(TITLES, max_size=60))
def test_the_vectorised_pick_is_the_title_by_title_pick(titles):
    documents = pl.DataFrame({"evidence_id": [f"{i:064x}" for i in range(len(titles))][::-1], "title": titles},
                             schema={"evidence_id": pl.Utf8, "title": pl.Utf8})
    assert fixed_queries(documents) == _one_title_at_a_time(documents)


def test_titles_of_stop_words_are_skipped_and_the_picks_spread_over_the_partition():
    titles = [("the of" if i % 3 == 0 else f"topic{i}") for i in range(80)]
    documents = pl.DataFrame({"evidence_id": [f"{i:064x}" for i in range(80)], "title": titles})
    picked = fixed_queries(documents)
    # 80 documents: every 10th of the 53 titles with a token, so six queries
    assert picked == ["topic1", "topic16", "topic31", "topic46", "topic61", "topic76"]
