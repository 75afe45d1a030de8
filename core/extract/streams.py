"""JSONL stream lines → evidence records or rejects, one outcome per line.

Accepted: a UTF-8 BOM on the first line, CRLF endings. Rejected with a reason:
malformed JSON, a torn final line, invalid UTF-8, an oversize line, NaN/Infinity
literals, nesting deeper than the limit, non-object JSON, a missing or unparsable
event time, a known schema's rule broken. A line identical to an earlier line of the
same file is a ``duplicate`` reject (counted, kept once).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import orjson

from core.canonical import canonical_json
from core.extract.stream_schemas import KIND_BY_SCHEMA, VALIDATORS
from core.readers.jsonl import parse_event_time

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 64
EXCERPT_CHARS = 200


@dataclass
class LineReject:
    line_offset: int
    byte_start: int
    byte_end: int
    reason: str
    detail: str
    raw: bytes


def _depth(value: object, limit: int) -> int:
    """Nesting depth, counting stops past ``limit``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def _classify_decode_error(body: bytes, torn: bool, exc: Exception) -> tuple[str, str]:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as err:
        return "invalid_utf8", f"invalid UTF-8 at byte {err.start}"
    if torn:
        return "torn_tail", "final line has no newline and is not complete JSON"
    try:
        json.loads(body)  # the stdlib accepts NaN/Infinity; orjson does not
        return "non_finite_number", "NaN or Infinity literal (not JSON)"
    except RecursionError:
        return "too_deep", "nesting too deep to parse"
    except ValueError:
        pass
    return "malformed_json", str(exc)[:200]


def excerpt(raw: bytes) -> str:
    return raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


@dataclass
class StreamRecord:
    """An accepted line: its canonical payload bytes and event time (microseconds since the epoch, UTC)."""

    line_offset: int
    kind: str
    payload: bytes
    event_us: int


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def event_micros(value: object) -> int | None:
    """Event time as epoch microseconds (UTC), or None when it cannot be read."""
    when = parse_event_time(value)
    return None if when is None else (when - _EPOCH) // _US


def process_lines(
    data: bytes, offsets: list[int], time_field: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    twins: Mapping[int, int] | None = None,
) -> tuple[list[StreamRecord], list[LineReject]]:
    """All outcomes of a jsonl slice at once (see ``iter_lines``, ``twins`` included)."""
    records: list[StreamRecord] = []
    rejects: list[LineReject] = []
    for item in iter_lines(data, offsets, time_field, max_line_bytes, twins):
        (records if type(item) is StreamRecord else rejects).append(item)
    return records, rejects


def line_spans(data: bytes, offsets: list[int]) -> Iterator[tuple[int, int, int, int, int, int, bool]]:
    """(index, offset, start, end, body_start, body_end, has_newline) of each line of a jsonl slice.

    ``start:end`` is the whole line with its terminator; ``body_start:body_end`` drops a CR of a
    CRLF ending and a UTF-8 BOM on the file's first line (offset 0).
    """
    pos = 0
    for i, offset in enumerate(offsets):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        start, pos = pos, end
        body_end = end if nl < 0 else nl
        if body_end > start and data[body_end - 1] == 13:  # CR of a CRLF ending
            body_end -= 1
        body_start = start + 3 if offset == 0 and data.startswith(BOM, start) else start
        yield i, offset, start, end, body_start, body_end, nl >= 0


class LineDeduper:
    """Which lines of one slice repeat an earlier line exactly: the first is kept, the others are ``duplicate``.

    Lines are compared byte for byte (a 64-bit hash finds the candidates); only what a line's
    position says is kept, never a copy of the line.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.seen: dict[int, list[tuple[int, int, int]]] = {}  # hash(body) -> [(offset, start, end)]

    def twin(self, body: bytes, offset: int, body_start: int, body_end: int) -> int | None:
        """The offset of an earlier identical line, else None (and this line is remembered)."""
        h = hash(body)
        twins = self.seen.get(h)
        if twins is not None:
            for twin_offset, s0, e0 in twins:
                if self.data[s0:e0] == body:
                    return twin_offset
            twins.append((offset, body_start, body_end))
        else:
            self.seen[h] = [(offset, body_start, body_end)]
        return None


def refused_unparsed(body: bytes, max_line_bytes: int) -> tuple[str, str] | None:
    """The reject of a line refused before it is parsed or compared with others: oversize or blank."""
    if len(body) > max_line_bytes:
        return "oversize", f"{len(body)} bytes > limit {max_line_bytes}"
    if not body.strip():
        return "malformed_json", "blank line"
    return None


def iter_lines(
    data: bytes, offsets: list[int], time_field: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    twins: Mapping[int, int] | None = None,
) -> Iterator[StreamRecord | LineReject]:
    """One StreamRecord or LineReject per line of a jsonl slice (with the lines' original offsets).

    ``twins`` ({line index: offset of the earlier identical line}) is given when the slice is a
    chunk of a larger one whose duplicates were found beforehand (``core.stream_extraction``);
    without it the slice's own duplicates are found here. This is the hot path of the evidence
    stage, so it avoids per-line allocations beyond what each outcome needs, and yields so
    callers can work in bounded chunks.
    """
    deduper = LineDeduper(data) if twins is None else None
    loads, JSONDecodeError = orjson.loads, orjson.JSONDecodeError
    kinds, validators = KIND_BY_SCHEMA, VALIDATORS
    last = len(offsets) - 1
    for i, offset, start, end, body_start, body_end, has_newline in line_spans(data, offsets):
        body = data[body_start:body_end]
        refused = refused_unparsed(body, max_line_bytes)
        if refused is None:
            twin = deduper.twin(body, offset, body_start, body_end) if deduper is not None else twins.get(i)
            if twin is not None:
                refused = "duplicate", f"identical to line {twin}"
        if refused is None:
            try:
                record = loads(body)
            except JSONDecodeError as exc:
                refused = _classify_decode_error(body, not has_newline and i == last, exc)
            else:
                reason, detail, kind, when = _judge(record, body, time_field, kinds, validators)
                if reason is None:
                    # canonicalise now so the parsed dict is freed at once (memory, allocator)
                    yield StreamRecord(offset, kind, canonical_json(record, known_finite=True), when)
                    continue
                refused = reason, detail
        yield LineReject(offset, start, end, refused[0], refused[1], data[start:end])


def _judge(record: object, body: bytes, time_field: str, kinds: dict, validators: dict):
    """(reason, detail, kind, event_us) for a parsed line; reason None means accepted."""
    if not isinstance(record, dict):
        return "not_an_object", f"top-level JSON is {type(record).__name__}, not an object", None, None
    if (body.count(b"{") + body.count(b"[")) > MAX_DEPTH and _depth(record, MAX_DEPTH) > MAX_DEPTH:
        return "too_deep", f"nesting deeper than {MAX_DEPTH}", None, None
    raw_time = record.get(time_field)
    if raw_time is None:
        return "missing_event_time", f"no '{time_field}' field", None, None
    when = event_micros(raw_time)
    if when is None:
        return "bad_event_time", f"'{time_field}' is not a time: {str(raw_time)[:80]!r}", None, None
    schema = record.get("schema")
    if isinstance(schema, str):
        validator = validators.get(schema)
        problem = validator(record) if validator else None
        if problem:
            return "schema_violation", f"{schema}: {problem}", None, None
        return None, None, kinds.get(schema, "event"), when
    return None, None, "event", when
