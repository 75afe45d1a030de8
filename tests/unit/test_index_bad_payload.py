"""An evidence row whose payload is not the shape its extractor writes fails the index build, naming the row."""

import datetime as dt

import polars as pl
import pytest

from core.canonical import canonical_text
from core.indexing import build_indexes

SYMBOL = {"qualified_name": "pkg.m.f", "name": "f", "symbol_kind": "function", "doc": "Do it.", "line_start": 3,
          "line_end": 9, "signature": "(a)", "decorators": ["cache"]}


def _records(payloads: list[object]) -> pl.DataFrame:
    n = len(payloads)
    return pl.DataFrame({
        "evidence_id": [f"{i:064x}" for i in range(n)], "kind": ["symbol"] * n, "extractor": ["python_symbols"] * n,
        "path": [f"pkg/m{i}.py" for i in range(n)], "line_start": [3] * n, "line_end": [9] * n,
        "payload": [canonical_text(p) for p in payloads]})


def test_well_shaped_symbols_index():
    built = build_indexes(_records([SYMBOL, {**SYMBOL, "doc": None, "decorators": []}]), "src", dt.date(2026, 12, 1),
                          with_manifest=False)
    assert built.tables["index/symbols"]["symbol_id"].to_list() == ["@src/pkg.m.f", "@src/pkg.m.f#2"]


@pytest.mark.parametrize("bent", [{"decorators": ["a", 1]}, {"doc": 7}, {"qualified_name": 9}])
def test_a_payload_of_another_shape_is_named_by_its_evidence_id(bent):
    """DESIGN §1.8: a derived table raises on inconsistent upstream data, naming the row (it was a bare TypeError)."""
    records = _records([SYMBOL, {**SYMBOL, **bent}])
    with pytest.raises(ValueError, match=f"row {1:064x} \\(symbol in pkg/m1.py\\).*does not have the shape"):
        build_indexes(records, "src", dt.date(2026, 12, 1), with_manifest=False)
