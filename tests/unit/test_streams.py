"""JSONL stream lines: each quarantine reason, and what is accepted."""

import json

import hypothesis
import pytest
from hypothesis import strategies as st

from core.extract.streams import process_lines

T = '"ts":"2026-11-16T10:00:00Z"'


def run(lines: list[bytes]):
    data = b"".join(lines)
    records, rejects = process_lines(data, list(range(len(lines))), "ts", max_line_bytes=1000)
    return records, rejects


@pytest.mark.parametrize(("line", "reason"), [
    (b'{"ts": \n', "malformed_json"),
    (b"\n", "malformed_json"),
    (b'{"ts":"2026-11-16T10:00:00Z","x":"\xff"}\n', "invalid_utf8"),
    (b'{"ts":"2026-11-16T10:00:00Z","x":NaN}\n', "non_finite_number"),
    (b'{"ts":"2026-11-16T10:00:00Z","x":Infinity}\n', "non_finite_number"),
    (b"[1,2]\n", "not_an_object"),
    (b"42\n", "not_an_object"),
    (b'{"x":1}\n', "missing_event_time"),
    (b'{"ts":null}\n', "missing_event_time"),
    (b'{"ts":"not a time"}\n', "bad_event_time"),
    (b'{"ts":true}\n', "bad_event_time"),
    (b'{' + T.encode() + b',"pad":"' + b"x" * 1000 + b'"}\n', "oversize"),
    (json.dumps({"ts": "2026-11-16T10:00:00Z", "d": json.loads("[" * 70 + "]" * 70)}).encode() + b"\n", "too_deep"),
    (b'{"schema":"session.iterate.v1",' + T.encode() + b',"session_id":"s","outcome":"won"}\n', "schema_violation"),
    (b'{"schema":"review_finding.v1",' + T.encode() + b',"review":"r","severity":"LOUD"}\n', "schema_violation"),
    (b'{"schema":"audit_scorecard.v1",' + T.encode() + b',"scores":{"a":9},"total":9,"max":5}\n',
     "schema_violation"),
])
def test_each_bad_line_has_its_reason(line, reason):
    records, rejects = run([b'{' + T.encode() + b'}\n', line])
    assert len(records) == 1
    (reject,) = rejects
    assert reject.reason == reason and reject.line_offset == 1 and reject.raw == line
    assert reject.detail


def test_torn_tail_only_for_the_final_line_without_newline():
    records, rejects = run([b'{' + T.encode() + b'}\n', b'{"ts":"2026'])
    assert [r.reason for r in rejects] == ["torn_tail"]
    records, rejects = run([b'{' + T.encode() + b',"complete":1}'])  # complete JSON without newline is fine
    assert len(records) == 1 and rejects == []


def test_bom_crlf_and_offset_zero_are_accepted():
    records, rejects = run([b'\xef\xbb\xbf{' + T.encode() + b',"schema":"replay_run.v1","run_id":"r","task_id":"t"}'
                            b'\r\n'])
    assert rejects == []
    (rec,) = records
    assert rec.line_offset == 0 and rec.kind == "replay_run" and b'"run_id":"r"' in rec.payload


def test_duplicates_are_counted_and_kept_once():
    line = b'{' + T.encode() + b',"n":1}\n'
    records, rejects = run([line, b'{' + T.encode() + b',"n":2}\n', line])
    assert [r.line_offset for r in records] == [0, 1]
    assert [(r.reason, r.line_offset, r.detail) for r in rejects] == [("duplicate", 2, "identical to line 0")]


def test_unknown_schema_is_event_evidence_and_offsets_are_the_originals():
    data = b'{"schema":"made.up.v3",' + T.encode() + b'}\n{"schema":5,' + T.encode() + b'}\n'
    records, rejects = process_lines(data, [7, 12], "ts")
    assert rejects == []
    assert [(r.kind, r.line_offset) for r in records] == [("event", 7), ("event", 12)]
    assert records[0].event_us == 1_794_823_200_000_000  # 2026-11-16T10:00:00Z


def test_byte_ranges_point_into_the_slice():
    lines = [b'{' + T.encode() + b'}\n', b"oops\n", b'{' + T.encode() + b',"n":3}\n']
    data = b"".join(lines)
    _, (reject,) = process_lines(data, [0, 1, 2], "ts")
    assert data[reject.byte_start:reject.byte_end] == b"oops\n"


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(source=st.text(min_size=1), path=st.text(min_size=1), version=st.text(min_size=1),
                  lines=st.lists(st.tuples(st.text(min_size=1), st.integers(min_value=0, max_value=2**62),
                                           st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
                                 max_size=5))
def test_line_ids_from_templates_are_the_canonical_ones(source, path, version, lines):
    """The per-kind templates give evidence_id()'s bytes and line_locators canonical_text()'s, whatever the
    names hold (quotes, backslashes, control characters, non-BMP text), line by line."""
    import polars as pl

    from core.canonical import canonical_text
    from core.file_extraction import evidence_id, line_evidence_ids, line_locators

    kinds, offsets, digests = ([line[i] for line in lines] for i in range(3))
    ids = line_evidence_ids(source, path, version, kinds, offsets, digests)
    assert ids == [evidence_id(source, path, kind, {"line_offset": offset}, digest, version)
                   for kind, offset, digest in lines]
    locators = pl.DataFrame({"o": offsets}, schema={"o": pl.Int64}).select(line_locators(pl.col("o")))
    assert locators.to_series().to_list() == [canonical_text({"line_offset": o}) for o in offsets]
