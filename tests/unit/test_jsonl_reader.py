"""JSONL day assignment (DESIGN §3): every line belongs to exactly one day."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from core.readers.jsonl import assign_days, line_day, line_starts, parse_event_time, read_jsonl_day, slice_for_day

D = dt.date


def split_lines(data: bytes) -> list[bytes]:
    """The reference split, as the reader first defined it: lines keep their ``\\n``; a final line without
    one is kept as is (torn). ``line_starts`` must agree with it."""
    if not data:
        return []
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _lines(data: bytes) -> list[bytes]:
    starts = line_starts(data)
    return [data[a:b] for a, b in zip(starts, starts[1:], strict=False)]


def test_lines_keep_terminators_and_torn_tail():
    assert _lines(b"a\nb\r\nc") == [b"a\n", b"b\r\n", b"c"]
    assert _lines(b"a\n") == [b"a\n"]
    assert _lines(b"") == []
    assert _lines(b"\n\n") == [b"\n", b"\n"]


def test_parse_event_time_forms():
    assert parse_event_time("2026-11-20T23:30:00-02:00").date() == D(2026, 11, 21)
    assert parse_event_time("2026-11-20T10:00:00Z").date() == D(2026, 11, 20)
    assert parse_event_time("2026-11-20 10:00:00").date() == D(2026, 11, 20)  # naive = UTC
    assert parse_event_time(1795478400).date() == D(2026, 11, 24)
    assert parse_event_time(1795478400000).date() == D(2026, 11, 24)  # milliseconds
    for bad in ("yesterday", "", None, True, [], {"t": 1}, 1e30):
        assert parse_event_time(bad) is None


def test_assign_days_prefers_preceding_then_following_then_default():
    a, b = D(2026, 1, 1), D(2026, 1, 2)
    default = D(2030, 1, 1)
    assert assign_days([None, a, None, b, None], default) == [a, a, a, b, b]
    assert assign_days([None, None], default) == [default, default]
    assert assign_days([], default) == []


def test_slice_keeps_original_offsets_and_bytes():
    data = (
        b'{"ts":"2026-01-01T00:00:00Z","n":0}\n'
        b"not json\n"
        b'{"ts":"2026-01-02T00:00:00Z","n":2}\r\n'
        b'{"ts":"2026-01-01T12:00:00Z","n":3}\n'
        b'{"torn":'
    )
    day1, offs1 = slice_for_day(data, "ts", D(2026, 1, 1))
    day2, offs2 = slice_for_day(data, "ts", D(2026, 1, 2))
    assert offs1 == [0, 1, 3, 4]  # the torn tail follows the line at offset 3
    assert offs2 == [2]
    assert day2 == b'{"ts":"2026-01-02T00:00:00Z","n":2}\r\n'
    assert day1.endswith(b'{"torn":')


def test_bom_on_first_line_still_reads_the_time():
    data = b'\xef\xbb\xbf{"ts":"2026-01-05T00:00:00Z"}\n'
    assert slice_for_day(data, "ts", D(2026, 1, 5))[1] == [0]


def test_file_without_timed_lines_belongs_to_the_day_materialised(tmp_path):
    (tmp_path / "untimed.jsonl").write_bytes(b'{"a":1}\n{"b":2}\n')
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"ignored")
    got = list(read_jsonl_day(str(tmp_path), "ts", D(2026, 3, 3), 1 << 20))
    assert [(e.path, e.line_offsets) for e in got] == [("untimed.jsonl", [0, 1])]


lines = st.lists(
    st.one_of(
        st.dates(D(2020, 1, 1), D(2020, 1, 5)).map(lambda d: f'{{"ts":"{d.isoformat()}T06:00:00Z"}}\n'.encode()),
        st.binary(max_size=20).filter(lambda b: b"\n" not in b).map(lambda b: b + b"\n"),
    ),
    max_size=30,
)


@given(lines, st.binary(max_size=10).filter(lambda b: b"\n" not in b))
def test_every_line_lands_in_exactly_one_day(body, tail):
    data = b"".join(body) + tail
    total = len(split_lines(data))
    days = [D(2020, 1, d) for d in range(1, 6)]
    seen: list[int] = []
    for day in days:
        seen.extend(slice_for_day(data, "ts", day)[1])
    # lines with no time anywhere in the file go to the materialised day, i.e. to every day asked
    if any(line_day(line, "ts") is not None for line in split_lines(data)):
        assert sorted(seen) == list(range(total))
    else:
        assert sorted(seen) == sorted(list(range(total)) * len(days))


def _reference_slice(data: bytes, day: dt.date) -> tuple[bytes, list[int]]:
    """The day's slice as first defined: split, a day per line, the day's lines joined."""
    lines = split_lines(data)
    days = assign_days([line_day(line, "ts") for line in lines], default=day)
    offsets = [i for i, d in enumerate(days) if d == day]
    return b"".join(lines[i] for i in offsets), offsets


stream = st.lists(st.one_of(
    st.dates(D(2020, 1, 1), D(2020, 1, 3)).map(lambda d: f'{{"ts":"{d.isoformat()}T06:00:00Z"}}'.encode()),
    st.sampled_from([b"", b"not json", b"[1]", b'{"ts":"nope"}', b'\xef\xbb\xbf{"ts":"2020-01-02T00:00:00Z"}']),
    st.binary(max_size=12).filter(lambda b: b"\n" not in b)), max_size=25).flatmap(
    lambda bodies: st.tuples(st.just(bodies), st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(bodies),
                                                       max_size=len(bodies)), st.booleans()))


@given(stream)
def test_lines_are_read_through_views_with_the_same_days_slices_and_fingerprints(case):
    """``line_days`` reads lines without copying them; slices and fingerprints equal the split-and-join ones."""
    import hashlib
    import tempfile
    from pathlib import Path

    from core.readers.jsonl import day_fingerprints, line_days

    bodies, ends, torn = case
    data = b"".join(body + end for body, end in zip(bodies, ends, strict=True))
    if torn and bodies:
        data = data[: -len(ends[-1])]  # the last line without its terminator
    assert _lines(data) == split_lines(data)
    assert line_days(data, "ts")[1] == [line_day(line, "ts") for line in split_lines(data)]
    for day in (D(2020, 1, 1), D(2020, 1, 2), D(2020, 1, 3)):
        got = slice_for_day(data, "ts", day)
        assert got == _reference_slice(data, day)
        if got[1] and len(got[1]) == len(split_lines(data)):
            assert got[0] is data  # a file of one day is not copied
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "s.jsonl").write_bytes(data)
        timed, untimed = day_fingerprints(root, "ts", 1 << 20)
    lines = split_lines(data)
    known = [line_day(line, "ts") for line in lines]
    if not lines:
        assert timed == {} and untimed == {}
    elif all(d is None for d in known):
        assert timed == {} and untimed == {"s.jsonl": hashlib.sha256(data).hexdigest()}
    else:
        days = assign_days(known, default=dt.date.min)
        assert timed == {d: {"s.jsonl": hashlib.sha256(b"".join(
            line for line, e in zip(lines, days, strict=True) if e == d)).hexdigest()} for d in set(days)}
