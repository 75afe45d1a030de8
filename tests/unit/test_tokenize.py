"""The tokenizer shared by index and query time."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from core.tokenize import MAX_QUERY_CHARS, query_terms, split_general, split_identifier, tokenize


def test_identifiers_split_but_stay_whole():
    assert tokenize("write_partitions") == ["write_partitions", "write", "partitions"]
    assert tokenize("HTTPServer2") == ["httpserver2", "http", "server", "2"]
    assert tokenize("parseJSONFile") == ["parsejsonfile", "parse", "json", "file"]
    assert split_identifier("ÉtatCivil") == ["État", "Civil"]


def test_numbers_and_hashes_stay_one_token():
    """A hash's letter/digit runs name nothing: it is one token, found by itself and by nothing else."""
    assert tokenize("commit 6f97fe6062d3 and 6F97FE60 at 20261207 x 7") == [
        "commit", "6f97fe6062d3", "6f97fe60", "20261207", "7"]
    assert tokenize("sha256 a1b2c3d HTTPServer2 6f97Fe60") == [  # too short, not hex, or mixed case: split
        "sha256", "sha", "256", "a1b2c3d", "1", "2", "3", "httpserver2", "http", "server", "2",
        "6f97fe60", "6", "97", "fe", "60"]
    assert tokenize("lf-b185e3eff9c0 rr_20261207_386260") == ["lf", "b185e3eff9c0", "rr_20261207_386260", "rr",
                                                               "20261207", "386260"]


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


_IDENTISH = st.lists(st.sampled_from(list("aAbBzZ09_ .-éß漢") + ["HTTPServer", "getURL", "x2y", "__init__", "c0ffee",
                                                                  "DEADBEEF", "6f97fe60", "e3", "The", "IT", "Ab",
                                                                  "Material", "A"]),
                     max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_IDENTISH, st.text(max_size=40)), min_size=1, max_size=8))
def test_the_vectorised_tokenizer_gives_the_same_multiset_as_tokenize(texts):
    """Issue 15: index build tokenises in polars; every text must get exactly tokenize()'s terms."""
    from collections import Counter

    from core.tokenize import token_frame

    ids = [f"d{i}" for i in range(len(texts))]
    got: dict[str, Counter] = {i: Counter() for i in ids}
    for doc, term in token_frame(ids, texts).iter_rows():
        got[doc][term] += 1
    assert got == {i: Counter(tokenize(t)) for i, t in zip(ids, texts, strict=True)}


def test_the_vectorised_tokenizer_on_camel_acronym_and_digit_boundaries():
    from core.tokenize import token_frame

    text = "HTTPServer2 getURLFor parseXMLDoc a1b2 __init__ ABCDefGHIJk the_and"
    assert sorted(token_frame(["d"], [text])["term"].to_list()) == sorted(tokenize(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_IDENTISH, st.text(max_size=40)), min_size=1, max_size=8))
def test_term_counts_count_each_text_s_tokens(texts):
    """The index build counts words first and splits each distinct word once: the counts of tokenize()."""
    from collections import Counter

    from core.tokenize import term_counts

    got: dict[int, Counter] = {i: Counter() for i in range(len(texts))}
    for doc, term, tf in term_counts(list(range(len(texts))), texts).iter_rows():
        assert term not in got[doc] and tf > 0  # one row per (text, term)
        got[doc][term] = tf
    assert got == {i: Counter(tokenize(t)) for i, t in enumerate(texts)}


def test_term_counts_on_a_name_repeated_and_split_into_a_repeated_part():
    from core.tokenize import term_counts

    counted = term_counts([7], ["aa_aa aa_aa getURL getURL getURL the"])
    assert dict(zip(counted["term"], counted["tf"], strict=True)) == {"aa_aa": 2, "aa": 4, "geturl": 3, "get": 3,
                                                                      "url": 3}
    assert counted.schema == {"id": pl.UInt32, "term": pl.Utf8, "tf": pl.Int64} and set(counted["id"]) == {7}
