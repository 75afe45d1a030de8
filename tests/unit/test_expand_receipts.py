"""replay/receipts frames are typed by their contract, whatever the first rows hold."""

import datetime as dt

import polars as pl

from core.contracts import EXPAND_RECEIPTS
from core.expand import receipts_frame

DAY = dt.date(2026, 12, 6)


def _receipt(seq: int, reason: str | None) -> dict:
    served = reason is None
    return {"source": "s", "day": DAY, "run_id": "r1", "step": "bundle", "seq": seq, "ref": f"ev:{seq}",
            "slice": "lines=1-2", "kind": "section" if served else None, "path": "a.md" if served else None,
            "object": "0" * 64 if served else None, "range": "1-2" if served else None, "clamped": False,
            "content_hash": "1" * 64 if served else None, "bytes": 10 if served else 0,
            "status": "SUCCESS" if served else "FAILURE", "reason": reason,
            "requested_at": dt.datetime(2026, 12, 6, 9, tzinfo=dt.UTC)}


def test_a_refusal_after_a_hundred_served_receipts_keeps_its_reason():
    """The stdlib with its site-packages: 100+ served receipts, then one refused (an empty text)."""
    rows = [_receipt(i, None) for i in range(150)] + [_receipt(150, "the text is empty: no lines to slice")]
    frame = receipts_frame(rows, "s", DAY)
    assert frame.height == 151 and frame.schema == pl.Schema(EXPAND_RECEIPTS.polars_schema)
    assert frame["reason"][150] == "the text is empty: no lines to slice" and frame["reason"].null_count() == 150
    assert frame.filter(pl.col("status") == "FAILURE")["seq"].to_list() == [150]
    assert receipts_frame(rows, "other", DAY).height == 0
