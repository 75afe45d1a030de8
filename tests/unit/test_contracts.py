"""Contract invariants: every table carries the common columns; the pandera schema is strict."""

import datetime as dt

import pandera.errors as pa_errors
import polars as pl
import pytest

from core.contracts import CONTRACTS, SNAPSHOTS


@pytest.mark.parametrize("contract", list(CONTRACTS.values()), ids=list(CONTRACTS))
def test_common_columns_and_keys(contract):
    schema = contract.polars_schema
    assert schema["schema_name"] == pl.Utf8 and schema["schema_version"] == pl.Int64
    assert schema["source"] == pl.Utf8 and schema["day"] == pl.Date
    by_name = {c.name: c for c in contract.columns}
    for key in contract.key:
        assert not by_name[key].nullable, f"key column {key} must not be nullable"
    assert set(contract.volatile) <= set(schema)
    assert contract.pandera_schema().validate(contract.empty()).height == 0


def _snapshot_row(**overrides):
    row = {
        "schema_name": "evidence_lake.snapshot",
        "schema_version": 1,
        "source": "s",
        "day": dt.date(2026, 1, 1),
        "snapshot_id": "a" * 64,
        "source_kind": "tree",
        "as_of": "x",
        "file_count": 1,
        "total_bytes": 1,
        "stored_count": 1,
        "rejected_count": 0,
        "taken_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    }
    row.update(overrides)
    return pl.DataFrame([row], schema=SNAPSHOTS.polars_schema)


def test_valid_row_passes():
    SNAPSHOTS.pandera_schema().validate(_snapshot_row())


@pytest.mark.parametrize(
    "overrides",
    [
        {"snapshot_id": "not-a-sha"},
        {"source_kind": "svn"},
        {"file_count": -1},
        {"schema_name": "other"},
        {"source": ""},
    ],
)
def test_bad_values_fail(overrides):
    with pytest.raises(pa_errors.SchemaErrors):
        SNAPSHOTS.pandera_schema().validate(_snapshot_row(**overrides), lazy=True)


def test_extra_column_fails_strict_schema():
    with pytest.raises(pa_errors.SchemaErrors, match="extra"):
        SNAPSHOTS.pandera_schema().validate(_snapshot_row().with_columns(pl.lit(1).alias("extra")), lazy=True)
