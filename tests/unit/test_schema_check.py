"""Schema checks in bounded memory give pandera's verdict, row numbers of the whole partition included."""

import datetime as dt
import hashlib

import pandera.errors as pa_errors
import polars as pl
import pytest

import core.schema_check as sc
from core.contracts import INDEX_TERMS

DAY = dt.date(2026, 12, 1)


def _terms(n: int) -> pl.DataFrame:
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    return INDEX_TERMS.frame({"term": [f"t{i % 97}" for i in range(n)], "evidence_id": ids, "tf": [1 + i % 5
                                                                                                   for i in range(n)]},
                             "s", DAY)


def _whole_frame_verdict(df: pl.DataFrame) -> bool:
    try:
        INDEX_TERMS.pandera_schema().validate(df, lazy=True)
    except pa_errors.SchemaErrors:
        return False
    return True


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(sc, "SCHEMA_CHUNK_ROWS", 1000)


def test_a_valid_partition_over_several_chunks_passes():
    df = _terms(2500)
    assert sc.schema_failures(INDEX_TERMS, df) == [] and _whole_frame_verdict(df)


def test_a_bad_value_in_the_last_chunk_is_found_with_its_partition_row_number():
    df = _terms(2500).with_columns(pl.when(pl.int_range(pl.len()) == 2345).then(0).otherwise(pl.col("tf"))
                                   .alias("tf"))
    cases = sc.schema_failures(INDEX_TERMS, df)
    assert [(c["column"], c["index"], c["failure_case"]) for c in cases] == [("tf", 2345, "0")]
    assert not _whole_frame_verdict(df)


def test_duplicate_keys_far_apart_are_found():
    df = _terms(2500)
    df = pl.concat([df, df.slice(7, 1)])  # row 2500 repeats row 7's key, chunks apart
    cases = sc.schema_failures(INDEX_TERMS, df)
    assert [c["index"] for c in cases] == [7, 2500]
    assert cases[0]["failure_case"]["evidence_id"] == df["evidence_id"][7]
    assert not _whole_frame_verdict(df)


def test_colliding_hashes_are_confirmed_on_the_keys(monkeypatch):
    monkeypatch.setattr(sc, "_row_hashes", lambda df, key: pl.Series([0] * df.height, dtype=pl.UInt64))
    assert sc.schema_failures(INDEX_TERMS, _terms(300)) == []  # every hash collides, no key repeats
    df = pl.concat([_terms(300), _terms(300).slice(299, 1)])
    assert [c["index"] for c in sc.schema_failures(INDEX_TERMS, df)] == [299, 300]


@pytest.mark.parametrize("change", ["extra column", "wrong type", "null key", "empty"])
def test_the_verdict_is_pandera_s(change):
    df = _terms(1500)
    if change == "extra column":
        df = df.with_columns(pl.lit(1).alias("extra"))
    elif change == "wrong type":
        df = df.with_columns(pl.col("tf").cast(pl.Int32))
    elif change == "null key":
        df = df.with_columns(pl.when(pl.int_range(pl.len()) == 1200).then(None).otherwise(pl.col("term"))
                             .alias("term"))
    else:
        df = df.head(0)
    assert (sc.schema_failures(INDEX_TERMS, df) == []) == _whole_frame_verdict(df) == (change == "empty")


def test_small_batches_are_validated_joined_and_keep_their_partition_row_numbers(monkeypatch):
    """Row groups smaller than a chunk are validated several at a time (pandera's cost is per call); a joined
    batch the one-pass verdict passes (the last) never reaches pandera."""
    df = _terms(2500).with_columns(pl.when(pl.int_range(pl.len()).is_in([5, 1777])).then(0).otherwise(pl.col("tf"))
                                   .alias("tf"))
    seen: list[int] = []
    validate = type(INDEX_TERMS.pandera_schema()).validate

    def counting(self, frame, *args, **kwargs):
        seen.append(frame.height)
        return validate(self, frame, *args, **kwargs)

    monkeypatch.setattr(type(INDEX_TERMS.pandera_schema()), "validate", counting)
    cases, rows = sc.batch_schema_failures(INDEX_TERMS, lambda: (df.slice(s, 300) for s in range(0, 2500, 300)))
    assert rows == 2500 and seen == [1200, 1200]  # four 300-row batches make 1,200 >= 1,000 rows
    assert [(c["column"], c["index"]) for c in cases] == [("tf", 5), ("tf", 1777)]
