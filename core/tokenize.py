"""One tokenizer for index and query time: Unicode-aware, case-folded, identifier-splitting.

``write_partitions`` → ``write_partitions``, ``write``, ``partitions``; ``HTTPServer2`` →
``httpserver2``, ``http``, ``server``, ``2``. The whole identifier is kept as a token too,
so an exact name is rare (high IDF) and its definition ranks first. CJK characters are
single-character tokens (no word boundaries to rely on). Stop words are configurable.

A number, and a hex string of 8 or more digits in one case (a hash, a commit, a short id:
``6f97fe6062d3``), is one token and never split: its letter/digit runs (``6``, ``f``, ``97``,
``fe``…) name nothing, match unrelated hashes and were most of a stream corpus's postings.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import polars as pl

DEFAULT_STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "in", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "was", "were", "will", "with", "not", "no", "do",
    "does", "did", "what", "where", "which", "who", "how", "when", "why",
])
_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
MAX_QUERY_CHARS = 2000


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _class(ch: str) -> int:
    return 0 if ch.isdigit() else 1 if ch.isupper() else 2  # digit, upper, other letter


_WHOLE_WORD = re.compile(r"[0-9]+|[0-9a-f]{8,}|[0-9A-F]{8,}")  # numbers and hashes: one token each
_ASCII_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_identifier(word: str) -> list[str]:
    """snake_case, camelCase, ACRONYMWord and letter/digit boundaries, for any script."""
    if word.isascii():
        return _ASCII_PARTS.findall(word)  # the same boundaries, in C (a property test pins this)
    return split_general(word)


def split_general(word: str) -> list[str]:
    """The character-class walk behind split_identifier, for any script."""
    parts: list[str] = []
    for segment in word.split("_"):
        start = 0
        for i in range(1, len(segment)):
            prev, cur = _class(segment[i - 1]), _class(segment[i])
            acronym_end = prev == 1 and cur == 1 and i + 1 < len(segment) and _class(segment[i + 1]) == 2
            if (prev != cur and not (prev == 1 and cur == 2)) or acronym_end:
                parts.append(segment[start:i])
                start = i
        if segment[start:]:
            parts.append(segment[start:])
    return parts


def tokenize(text: str, stop_words: Iterable[str] = DEFAULT_STOP_WORDS) -> list[str]:
    """Tokens in order of appearance (duplicates kept: term frequency matters)."""
    stops = stop_words if isinstance(stop_words, (set, frozenset)) else set(stop_words)
    out: list[str] = []
    for word in _WORD.findall(text if text.isascii() else unicodedata.normalize("NFKC", text)):
        if word.isascii():
            if word.islower() and word.isalpha():  # the common case: nothing to split or fold
                if len(word) > 1 and word not in stops:
                    out.append(word)
                continue
            if _WHOLE_WORD.fullmatch(word):  # a number or a hash: never a stop word, kept at any length
                out.append(word.lower())
                continue
            parts = [p.lower() for p in split_identifier(word)]
            whole = word.lower().strip("_")
            candidates = [whole, *parts] if len(parts) > 1 or (parts and parts[0] != whole) else [whole]
            out.extend(t for t in candidates if t and t not in stops and (len(t) > 1 or t.isdigit()))
            continue
        if _CJK.search(word):
            out.extend(_fold(ch) for ch in word if not ch.isspace() and ch != "_")
            continue
        whole = _fold(word).strip("_")
        parts = [_fold(p) for p in split_identifier(word)]
        candidates = [whole, *parts] if len(parts) > 1 or (parts and parts[0] != whole) else [whole]
        out.extend(t for t in candidates if t and t not in stops and (len(t) > 1 or t.isdigit()))
    return out


def query_terms(query: str, stop_words: Iterable[str] = DEFAULT_STOP_WORDS) -> list[str]:
    """Distinct query tokens, in order; the query is cut at MAX_QUERY_CHARS characters."""
    return list(dict.fromkeys(tokenize(query[:MAX_QUERY_CHARS], stop_words)))


_PL_WORD = r"\w+"
_PL_ACRONYM = r"([A-Z]+)([A-Z][a-z])"  # the lookahead of _ASCII_PARTS, as a split (Rust regex has no lookaround)
_PL_PARTS = r"[A-Z]?[a-z]+|[A-Z]+|[0-9]+"
_PL_PLAIN = pl.col("word").str.contains(r"^[a-z]+$")  # most words: their own one token
_PL_WHOLE = pl.col("word").str.contains(f"^(?:{_WHOLE_WORD.pattern})$")  # numbers and hashes: one token, lowercased


def token_frame(ids: Sequence[str] | Sequence[int], texts: list[str],
                stop_words: Iterable[str] = DEFAULT_STOP_WORDS) -> pl.DataFrame:
    """(id, term) rows: the multiset of ``tokenize(text)`` for every text, in one vectorised pass.

    ``ids`` may be strings or integers (row numbers: a token row then costs 4 bytes of id, not 64).

    ASCII texts (nearly all of a code corpus) are split by polars' regex engine, which gives
    the same tokens as ``tokenize`` (a property test pins it); any other text goes through
    ``tokenize`` itself. Order within a text is not kept: postings only count terms.
    """
    stops = sorted(set(stop_words))
    id_type = pl.UInt32 if ids and isinstance(ids[0], int) else pl.Utf8
    words, other = _ascii_words(ids, texts, id_type)
    words = words.collect().lazy()  # read twice below: split once
    terms = words.join(_word_terms(words.select("word").unique(), stops), on="word").select("id", "term").collect()
    if other.height:
        stop_set = set(stops)
        rows = [(i, t) for i, text in other.iter_rows() for t in tokenize(text, stop_set)]
        extra = pl.DataFrame(rows, schema={"id": id_type, "term": pl.Utf8}, orient="row")
        terms = pl.concat([terms, extra])
    return terms


def _ascii_words(ids: Sequence, texts: list[str], id_type: pl.DataType) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """(id, word) of every word of the ASCII texts, for polars' regex engine; the (id, text) of the others."""
    frame = pl.DataFrame({"id": ids, "text": texts}, schema={"id": id_type, "text": pl.Utf8})
    ascii_mask = ~frame["text"].str.contains(r"[^\x00-\x7F]")
    words = (frame.lazy().filter(ascii_mask)
             .select("id", pl.col("text").str.extract_all(_PL_WORD).alias("word")).explode("word")
             .drop_nulls("word"))
    return words, frame.filter(~ascii_mask)


def _word_terms(words: pl.LazyFrame, stops: list[str]) -> pl.LazyFrame:
    """(word, term) rows: each ASCII word's tokens as ``tokenize`` gives them, a token twice if it comes twice."""
    simple = words.filter(_PL_PLAIN).select("word", pl.col("word").alias("term"))
    whole = pl.col("word").str.to_lowercase().str.strip_chars("_")
    parts = pl.col("word").str.replace_all(_PL_ACRONYM, "${1} ${2}").str.extract_all(_PL_PARTS)
    first = parts.list.first().str.to_lowercase()
    split = ~_PL_WHOLE & ((parts.list.len() > 1) | ((parts.list.len() == 1) & (first != whole)))
    compound = (words.filter(~_PL_PLAIN)
                .select("word", pl.when(split).then(pl.concat_list(whole, parts))
                        .otherwise(pl.concat_list(whole)).alias("term"))
                .explode("term").with_columns(pl.col("term").str.to_lowercase()))
    return (pl.concat([simple, compound])
            .filter((pl.col("term").str.len_chars() > 1) | pl.col("term").str.contains(r"^[0-9]+$"))
            .filter((pl.col("term") != "") & ~pl.col("term").is_in(stops)))


def term_counts(ids: Sequence[int], texts: list[str], stop_words: Iterable[str] = DEFAULT_STOP_WORDS) -> pl.DataFrame:
    """(id, term, tf): how often each of ``tokenize(text)``'s tokens occurs in each text, in any row order.

    What ``token_frame`` then a count by (term, id) gives, with less work: words to split (identifiers)
    are counted per text first, and each distinct one is split and folded once, not at every
    occurrence (a symbol's name comes five times in its document, and a module's names recur in all of
    its symbols' documents). A plain lowercase word is its own token and goes straight to the count.
    30k documents of the stdlib: 0.55-0.64 -> 0.23-0.25 s; 30k synthetic sections: 0.57-0.70 -> 0.40-0.48 s.
    """
    stops = sorted(set(stop_words))
    words, other = _ascii_words(ids, texts, pl.UInt32)
    words = words.collect().lazy()  # read by both branches: split once (in one plan each branch split again)
    # a plain word is its own one token, and a number or a hash its own lowercased (never a stop word, kept at
    # any length): counted with the others at the end, never grouped, split and joined back (on a stream
    # corpus, numbers and hashes were most of the distinct words to split: 200k kb documents 5.0 -> 2.4 s)
    one = pl.lit(1, pl.UInt32).alias("n")
    plain = words.filter(_PL_PLAIN & (pl.col("word").str.len_chars() > 1) & ~pl.col("word").is_in(stops)).select(
        "id", pl.col("word").alias("term"), one)
    whole = words.filter(_PL_WHOLE & ~_PL_PLAIN).select("id", pl.col("word").str.to_lowercase().alias("term"), one)
    compound = words.filter(~_PL_PLAIN & ~_PL_WHOLE).group_by("id", "word").agg(pl.len().cast(pl.UInt32).alias("n"))
    compound = compound.join(_word_terms(compound.select("word").unique(), stops), on="word")
    counted = (pl.concat([plain, whole, compound.select("id", "term", "n")]).group_by("id", "term")
               .agg(pl.col("n").sum().cast(pl.Int64).alias("tf")).collect())
    if other.height:
        stop_set = set(stops)
        rows = [(i, term, n) for i, text in other.iter_rows()
                for term, n in Counter(tokenize(text, stop_set)).items()]
        extra = pl.DataFrame(rows, schema={"id": pl.UInt32, "term": pl.Utf8, "tf": pl.Int64}, orient="row")
        counted = pl.concat([counted, extra])
    return counted
