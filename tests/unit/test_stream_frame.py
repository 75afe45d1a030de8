"""stream_frame builds its columns in bulk: each row must be what the row-by-row definition gives."""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib

import hypothesis
import hypothesis.strategies as st
import polars as pl
import pytest

from core.canonical import canonical_json, canonical_text
from core.contracts import EVIDENCE_RECORDS
from core.extract.base import EXTRACTOR_VERSIONS
from core.extract.streams import StreamRecord
from core.file_extraction import FILE_RECORD_COLUMNS, evidence_id
from core.perf import hex_series, utf8_series
from core.stream_extraction import EXTRACTOR, stream_frame

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


def reference_row(source: str, path: str, obj: str, r: StreamRecord) -> dict:
    """One line's row as DESIGN §4 defines it, a dict and a serialiser call per value."""
    version = EXTRACTOR_VERSIONS[EXTRACTOR]
    digest = hashlib.sha256(r.payload).hexdigest()
    locator = {"line_offset": r.line_offset}
    return {"evidence_id": evidence_id(source, path, r.kind, locator, digest, version), "kind": r.kind,
            "path": path, "line_start": r.line_offset, "line_end": r.line_offset + 1, "line_offset": r.line_offset,
            "locator": canonical_text(locator), "object": obj, "payload": r.payload.decode("utf-8"),
            "payload_sha256": digest, "payload_crc32": zlib.crc32(r.payload) & 0xFFFFFFFF, "extractor": EXTRACTOR,
            "extractor_version": version, "event_us": r.event_us}


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(path=st.text(min_size=1), payloads=st.lists(st.dictionaries(st.text(max_size=8), JSON, max_size=4),
                                                               max_size=6),
                  kinds=st.lists(st.sampled_from(["session", "replay_run", "event", "ünïcode \"kind\""]), min_size=6,
                                 max_size=6),
                  times=st.lists(st.integers(-2**40, 2**50), min_size=6, max_size=6))
def test_stream_frame_rows_are_the_row_by_row_definition(path, payloads, kinds, times):
    records = [StreamRecord(17 * i + (i > 2) * 2**40, kinds[i], canonical_json(p), times[i])
               for i, p in enumerate(payloads)]
    frame = stream_frame("kb ✓", path, "obj/1", records)
    assert frame.columns == list(FILE_RECORD_COLUMNS)
    schema = EVIDENCE_RECORDS.polars_schema
    assert all(frame.schema[c] == schema[c] for c in frame.columns)
    assert frame.height == len(records)
    for row, r in zip(frame.iter_rows(named=True), records, strict=True):
        want = reference_row("kb ✓", path, "obj/1", r)
        event_us = want.pop("event_us")
        assert {k: row[k] for k in want} == want
        assert row["event_time"] == EPOCH + dt.timedelta(microseconds=event_us)


def test_bulk_string_columns_keep_values_and_refuse_a_wrong_width():
    values = ["ü" * 3, "", '{"a":"\\n"}', "𝄞"]
    assert utf8_series("s", [v.encode() for v in values]).to_list() == values
    assert utf8_series("s", []).to_list() == [] and utf8_series("s", []).dtype == pl.Utf8
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    assert hex_series("h", digests).to_list() == digests
    with pytest.raises(ValueError, match="64 ASCII characters"):
        hex_series("h", [*digests[:2], digests[2][:63]])
