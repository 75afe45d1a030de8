"""forge-compatible record frames (FREC): a binary log of canonical-JSON rows, each with its CRC-32.

Layout of one frame (little-endian; the layout of forge_memory's "Weld Forge Core", version 1)::

    offset  size  field
    0       4     magic         b"FREC"
    4       2     version       u16, 1
    6       2     header_len    u16, 24 (bytes before the payload)
    8       4     payload_len   u32
    12      8     timestamp_ms  u64, milliseconds since the Unix epoch
    20      4     crc32         u32, zlib.crc32 of the payload bytes only
    24      n     payload       the row's canonical JSON (core.canonical)

A file is frames back to back; a record's offset is where its magic starts. Exported rows are
ordered by (source, day, the table's key) and stamped with their partition day at 00:00 UTC, so
the same table version always exports to the same bytes. Readers verify every CRC (forge's rule:
reads MUST verify); a final frame cut short is reported as torn, not as corruption of the frames
before it.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import polars as pl

from core.canonical import CanonicalJSONError, canonical_json, crc32
from core.content_hash import to_jsonable
from core.contracts import TableContract

MAGIC = b"FREC"
VERSION = 1
HEADER = struct.Struct("<4sHHIQI")
HEADER_LEN = HEADER.size  # 24
MAX_PAYLOAD = 0xFFFFFFFF


class FrecError(ValueError):
    """A frame cannot be written (NaN, a payload over 4 GiB, a negative timestamp)."""


def encode_frame(payload: bytes, timestamp_ms: int) -> bytes:
    """One frame around ``payload`` (already canonical JSON bytes)."""
    if len(payload) > MAX_PAYLOAD:
        raise FrecError(f"payload of {len(payload)} bytes does not fit a u32 length")
    if not 0 <= timestamp_ms < 1 << 64:
        raise FrecError(f"timestamp_ms {timestamp_ms} is not a u64")
    crc = crc32(payload)
    return HEADER.pack(MAGIC, VERSION, HEADER_LEN, len(payload), timestamp_ms, crc) + payload


def record_frame(record: dict, timestamp_ms: int) -> bytes:
    """A frame whose payload is ``record`` as canonical JSON; NaN/Inf are refused, never written."""
    try:
        return encode_frame(canonical_json(record), timestamp_ms)
    except CanonicalJSONError as exc:
        raise FrecError(f"record cannot be framed: {exc}") from exc


def _day_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000


def export_frames(rows: pl.DataFrame, contract: TableContract, out: Path) -> dict:
    """Write ``rows`` of ``contract`` to ``out`` as frames; returns counts for a summary line."""
    order = [c for c in ("source", "day", *contract.key) if c in rows.columns]
    ordered = rows.sort(order, maintain_order=True) if rows.height > 1 else rows
    columns = {name: to_jsonable(ordered[name]) for name in ordered.columns}
    days = ordered["day"].to_list() if "day" in ordered.columns else [None] * ordered.height
    written = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:
        for i in range(ordered.height):
            record = {name: values[i] for name, values in columns.items()}
            frame = record_frame(record, _day_ms(days[i]) if days[i] is not None else 0)
            handle.write(frame)
            written += len(frame)
    return {"table": contract.table_id, "frames": ordered.height, "bytes": written}


@dataclass(frozen=True)
class Frame:
    offset: int
    version: int
    timestamp_ms: int
    payload: bytes


@dataclass
class FrecReport:
    """What a walk over a FREC file found. ``ok`` only when every frame verified and none is torn."""

    path: str
    size: int
    frames: int = 0  # frames whose CRC and payload verified
    bad: list[dict] = field(default_factory=list)  # {"offset", "problem"} in file order
    torn_at: int | None = None  # offset of a final frame cut short

    @property
    def ok(self) -> bool:
        return not self.bad and self.torn_at is None

    @property
    def first_bad_offset(self) -> int | None:
        return self.bad[0]["offset"] if self.bad else None

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: ok, {self.frames} frames verified, {self.size} bytes"
        parts = []
        if self.bad:
            first = self.bad[0]
            parts.append(f"{len(self.bad)} bad frame(s); first at offset {first['offset']}: {first['problem']}")
        if self.torn_at is not None:
            parts.append(f"torn final frame at offset {self.torn_at} (the file ends inside it)")
        return f"{self.path}: {'; '.join(parts)}; {self.frames} other frames verified"


def _problem(payload: bytes, crc: int) -> str | None:
    """Why a complete frame's payload is not trustworthy, or None."""
    actual = crc32(payload)
    if actual != crc:
        return f"crc32 {actual:#010x} != recorded {crc:#010x}"
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return f"payload is not JSON ({exc})"
    if canonical_json(value, known_finite=True) != payload:
        return "payload is not canonical JSON"
    return None


def walk(data: bytes, path: str = "<bytes>") -> tuple[FrecReport, list[Frame]]:
    """Verify every frame of ``data``; stop at a wrong magic or header (no frame boundary to trust after it)."""
    report, frames, offset = FrecReport(path, len(data)), [], 0
    while offset < len(data):
        if len(data) - offset < HEADER_LEN:  # a header cut short: torn if it starts like one
            if MAGIC.startswith(data[offset:offset + 4]):
                report.torn_at = offset
            else:
                report.bad.append({"offset": offset, "problem": "trailing bytes that are not a frame"})
            break
        magic, version, header_len, length, timestamp_ms, crc = HEADER.unpack_from(data, offset)
        if magic != MAGIC:
            report.bad.append({"offset": offset, "problem": f"magic {magic!r} is not {MAGIC!r}"})
            break
        if version != VERSION or header_len != HEADER_LEN:
            report.bad.append({"offset": offset, "problem": f"unknown frame version {version} / header_len "
                                                            f"{header_len} (this reader knows {VERSION}/{HEADER_LEN})"})
            break
        end = offset + HEADER_LEN + length
        if end > len(data):
            report.torn_at = offset
            break
        payload = data[offset + HEADER_LEN:end]
        problem = _problem(payload, crc)
        if problem:
            report.bad.append({"offset": offset, "problem": problem})
        else:
            report.frames += 1
            frames.append(Frame(offset, version, timestamp_ms, payload))
        offset = end
    return report, frames


def verify_file(path: Path) -> FrecReport:
    return walk(path.read_bytes(), str(path))[0]


def iter_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(offset, record) of every frame; raises FrecError at the first frame that does not verify."""
    report, frames = walk(path.read_bytes(), str(path))
    if not report.ok:
        raise FrecError(report.summary())
    for frame in frames:
        yield frame.offset, orjson.loads(frame.payload)


def export_table(root: str, contract: TableContract, out: Path, source: str | None = None,
                 day: dt.date | None = None, storage_options: dict[str, str] | None = None) -> dict:
    """Export the partitions of one table (optionally one source and/or day) at one pinned Delta version."""
    from core.lake import list_partitions, open_table, read_partitions

    table = open_table(root, contract, storage_options)
    if table is None:
        raise FrecError(f"no {contract.table_id} table under {root}: run `evidence-lake run` first")
    version = table.version()
    partitions = [(s, d) for s, d in list_partitions(root, contract, storage_options)
                  if (source is None or s == source) and (day is None or d == day)]
    if not partitions:
        wanted = " ".join(x for x in (f"source {source}" if source else "", f"day {day}" if day else "") if x)
        raise FrecError(f"{contract.table_id} has no partition{' for ' + wanted if wanted else ''}")
    rows = read_partitions(root, contract, partitions, storage_options, version=version)
    summary = export_frames(rows, contract, out)
    return {**summary, "delta_version": version, "partitions": len(partitions)}
