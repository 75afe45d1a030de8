"""FREC frames: the layout pinned by golden bytes, and a reader that finds the first bad frame."""

import datetime as dt
import math
import struct

import polars as pl
import pytest

from core.contracts import SNAPSHOTS
from core.frec import HEADER_LEN, FrecError, encode_frame, export_frames, iter_records, record_frame, walk
from core.lake import read_partitions, write_partitions

# forge_memory's worked example (seeds digest §1.0): {"event":"pulse","value":1} at 1735460000000 ms
GOLDEN = bytes.fromhex(
    "46524543" "0100" "1800" "1b000000" "00117a1194010000" "a101cb7e"
) + b'{"event":"pulse","value":1}'


def test_the_worked_forge_example_gives_the_golden_bytes():
    assert record_frame({"value": 1, "event": "pulse"}, 1735460000000) == GOLDEN
    assert encode_frame(b'{"event":"pulse","value":1}', 1735460000000) == GOLDEN
    assert len(GOLDEN) == HEADER_LEN + 27 == 51


def _log(n: int) -> tuple[bytes, list[int]]:
    frames = [record_frame({"i": i, "text": "é" * i}, 1_000 * i) for i in range(n)]
    offsets = [sum(len(f) for f in frames[:i]) for i in range(n)]
    return b"".join(frames), offsets


def test_a_clean_log_verifies_every_frame_at_its_offset():
    data, offsets = _log(5)
    report, frames = walk(data)
    assert report.ok and report.frames == 5 and [f.offset for f in frames] == offsets
    assert [f.timestamp_ms for f in frames] == [0, 1000, 2000, 3000, 4000]


def test_a_flipped_payload_byte_names_its_frame_and_the_others_still_verify():
    data, offsets = _log(5)
    broken = bytearray(data)
    broken[offsets[2] + HEADER_LEN + 3] ^= 0x01
    report, frames = walk(bytes(broken))
    assert not report.ok and report.first_bad_offset == offsets[2]
    assert "crc32" in report.bad[0]["problem"] and report.frames == 4 and report.torn_at is None
    assert f"first at offset {offsets[2]}" in report.summary()


def test_a_truncated_tail_is_torn_not_corruption_of_earlier_frames():
    data, offsets = _log(4)
    for cut in (1, 10, HEADER_LEN, HEADER_LEN + 2):  # inside the header and inside the payload
        report, _ = walk(data[: offsets[3] + cut])
        assert report.torn_at == offsets[3] and report.bad == [] and report.frames == 3, cut
        assert "torn final frame" in report.summary()


def test_a_wrong_magic_stops_the_walk_at_that_offset():
    data, offsets = _log(3)
    broken = data[: offsets[1]] + b"FREX" + data[offsets[1] + 4:]
    report, _ = walk(broken)
    assert report.first_bad_offset == offsets[1] and "magic" in report.bad[0]["problem"] and report.frames == 1
    garbage = walk(data + b"\x00\x01")[0]
    assert garbage.bad[0]["offset"] == len(data) and "not a frame" in garbage.bad[0]["problem"]


def test_an_unknown_version_and_a_non_canonical_payload_are_refused():
    data, _ = _log(1)
    future = struct.pack("<H", 2).join([data[:4], data[6:]])
    assert "unknown frame version 2" in walk(future)[0].bad[0]["problem"]
    loose = encode_frame(b'{"b": 1, "a": 2}', 0)  # valid JSON with a valid CRC, but not canonical
    assert walk(loose)[0].bad[0]["problem"] == "payload is not canonical JSON"


def test_nan_is_refused_when_framing_never_written():
    with pytest.raises(FrecError, match="NaN"):
        record_frame({"score": math.nan}, 0)


def test_a_table_exports_to_the_same_bytes_and_reads_back(tmp_path):
    lake = str(tmp_path / "lake")
    for day in (dt.date(2024, 3, 2), dt.date(2024, 3, 1)):
        write_partitions(lake, SNAPSHOTS, SNAPSHOTS.frame({
            "snapshot_id": [f"{day.day:064d}"], "source_kind": ["tree"], "as_of": ["x"], "file_count": [day.day],
            "stored_count": [day.day], "total_bytes": [10], "rejected_count": [0],
            "taken_at": [dt.datetime(2024, 3, day.day, tzinfo=dt.UTC)]}, source="s", day=day), [("s", day)])
    rows = read_partitions(lake, SNAPSHOTS)
    first, second = tmp_path / "a.frec", tmp_path / "b.frec"
    assert export_frames(rows, SNAPSHOTS, first) == {"table": "raw/snapshots", "frames": 2,
                                                     "bytes": first.stat().st_size}
    export_frames(rows.reverse(), SNAPSHOTS, second)  # the order rows arrive in does not matter
    assert first.read_bytes() == second.read_bytes()
    records = list(iter_records(first))
    assert [r["day"] for _, r in records] == ["2024-03-01", "2024-03-02"] and records[0][0] == 0
    assert records[1][1]["file_count"] == 2 and records[1][1]["taken_at"].startswith("2024-03-02 00:00")
    _, frames = walk(first.read_bytes())
    assert [f.timestamp_ms for f in frames] == [1709251200000, 1709337600000]  # the partition days, 00:00 UTC
    assert pl.DataFrame([r for _, r in records]).height == rows.height
    first.write_bytes(first.read_bytes()[:-1])
    with pytest.raises(FrecError, match="torn final frame at offset"):
        list(iter_records(first))
