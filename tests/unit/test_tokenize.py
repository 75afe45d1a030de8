"""The tokenizer shared by index and query time."""

from hypothesis import given
from hypothesis import strategies as st

from core.tokenize import MAX_QUERY_CHARS, query_terms, split_general, split_identifier, tokenize


def test_identifiers_split_but_stay_whole():
    assert tokenize("write_partitions") == ["write_partitions", "write", "partitions"]
    assert tokenize("HTTPServer2") == ["httpserver2", "http", "server", "2"]
    assert tokenize("parseJSONFile") == ["parsejsonfile", "parse", "json", "file"]
    assert split_identifier("ÉtatCivil") == ["État", "Civil"]


def test_unicode_case_folding_and_cjk():
    assert tokenize("Straße STRASSE") == ["strasse", "strasse"]
    assert tokenize("Évidence déjà") == ["évidence", "déjà"]
    assert tokenize("日本語") == ["日", "本", "語"]
    assert tokenize("🎉 ✨") == []


def test_stop_words_are_configurable():
    assert tokenize("the delta table") == ["delta", "table"]
    assert tokenize("the delta table", stop_words={"delta"}) == ["the", "table"]


def test_query_terms_are_distinct_and_bounded():
    assert query_terms("table TABLE Table") == ["table"]
    long = "lake " * 10_000
    assert query_terms(long) == ["lake"]
    assert len(long) > MAX_QUERY_CHARS
    assert query_terms("'; drop table x; --") == ["drop", "table"]


@given(st.text(alphabet="abcXYZ019_", min_size=1, max_size=12))
def test_ascii_fast_path_splits_like_the_general_walk(word):
    assert split_identifier(word) == [p for p in split_general(word) if p]
