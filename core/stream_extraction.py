"""Extraction of stream evidence: the lines of jsonl files in chunks, in a spawn pool when it pays.

Every line's outcome depends on that line alone but one: ``duplicate``, a line identical to an
earlier line of the same file. The parent finds each chunk's duplicates over the whole file
(``LineDeduper``) before the chunk leaves, so a chunk gives the same records and rejects wherever
it runs, and chunks joined in order give the rows of one pass (test: 1 vs 2 workers, chunk
sizes). With more than one worker and at least ``POOL_MIN_LINES`` lines, chunks go to a spawn
pool; ``EVIDENCE_LAKE_WORKERS`` sets its size, as for files.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from core import check_sample
from core.extract.base import EXTRACTOR_VERSIONS
from core.extract.streams import (
    BOM,
    LineDeduper,
    LineReject,
    StreamRecord,
    line_spans,
    process_lines,
    refused_unparsed,
)
from core.file_extraction import FILE_RECORD_COLUMNS, line_evidence_ids, line_locators, records_frame
from core.objects import ObjectStore
from core.perf import hex_series, paused_gc, utf8_series
from core.pool import in_order, workers_setting

CHUNK_BYTES = 8 << 20  # stream bytes per chunk: Python objects for its records at a time (DESIGN §9)
CHUNK_MAX_LINES = 100_000  # and at most this many lines, however short (DESIGN: chunks of ~50-100k records)
POOL_MIN_LINES = 500_000  # below this, starting workers costs about what they save (README: kb figures)
EXTRACTOR = "jsonl_stream"

StreamFile = tuple[str, str, Sequence[int]]  # path, object, original offsets of the day's lines


@dataclass
class StreamChunk:
    """The outcome of consecutive lines of one file: records (unstamped) and rejects, in line order."""

    path: str
    records: pl.DataFrame  # FILE_RECORD_COLUMNS
    rejects: list[LineReject]  # byte ranges into the file's slice of the day
    last: bool  # the file's last chunk


def stream_frame(source: str, path: str, obj: str, records: list[StreamRecord]) -> pl.DataFrame:
    """evidence/records' varying columns for the accepted lines of one file (unstamped).

    Only what differs per line is computed per line, a column at a time; the strings go to polars as
    joined buffers (``core.perf``), not a Python ``str`` each, and the locator, path, object, extractor
    and line span are polars expressions (150k kb sessions: 0.87 -> 0.63 s).
    """
    version = EXTRACTOR_VERSIONS[EXTRACTOR]
    sha256, crc32 = hashlib.sha256, zlib.crc32
    payloads = [r.payload for r in records]
    kinds = [r.kind for r in records]
    offsets = [r.line_offset for r in records]
    digests = [sha256(p).hexdigest() for p in payloads]
    frame = records_frame({
        "evidence_id": hex_series("evidence_id", line_evidence_ids(source, path, version, kinds, offsets, digests)),
        "kind": kinds,
        "line_start": offsets,
        "payload": utf8_series("payload", payloads),  # canonical JSON: valid UTF-8
        "payload_sha256": hex_series("payload_sha256", digests),
        "payload_crc32": [crc32(p) for p in payloads],  # unsigned already: & 0xffffffff is a no-op
        "event_time": [r.event_us for r in records],
    })
    return frame.with_columns(
        line_locators(pl.col("line_start")).alias("locator"),
        pl.lit(path, pl.Utf8).alias("path"),
        (pl.col("line_start") + 1).alias("line_end"),
        pl.col("line_start").alias("line_offset"),
        pl.lit(obj, pl.Utf8).alias("object"),
        pl.lit(EXTRACTOR, pl.Utf8).alias("extractor"),
        pl.lit(version, pl.Utf8).alias("extractor_version"),
    ).select(FILE_RECORD_COLUMNS)


def stream_chunk(source: str, path: str, obj: str, data: bytes, offsets: Sequence[int], twins: dict[int, int],
                 base: int, last: bool, time_field: str, max_line_bytes: int) -> StreamChunk:
    """Records and rejects of the lines in ``data`` (a chunk that starts ``base`` bytes into the file's slice).

    ``twins`` holds the chunk's duplicates ({index in the chunk: offset of the earlier line}).
    """
    records, rejects = process_lines(data, list(offsets), time_field, max_line_bytes, twins)
    for reject in rejects:
        reject.byte_start += base
        reject.byte_end += base
    return StreamChunk(path, stream_frame(source, path, obj, records), rejects, last)


def _worker_chunk(*task) -> StreamChunk:
    with paused_gc():  # as in build_evidence: per-line objects are many, and gc passes over them cost time
        return stream_chunk(*task)


def _all_lines_differ(data: bytes, lines: int, region_bytes: int, bom_first: bool) -> bool:
    """Whether no two of the first ``lines`` lines can be identical, read a region at a time (bounded memory).

    True only when there is no CR (a CRLF line equals its LF twin) and the 64-bit hashes of all line
    bodies differ; anything else sends the caller to the exact comparison.
    """
    if b"\r" in data:
        return False
    hashes: set[int] = set()
    count = pos = 0
    while count < lines and pos < len(data):
        end = data.find(b"\n", pos + region_bytes)
        end = len(data) if end < 0 else end + 1
        bodies = data[pos:end].split(b"\n")
        if bodies[-1] == b"":
            bodies.pop()  # the split after the region's last newline
        bodies = bodies[:lines - count]
        if count == 0 and bom_first and bodies and bodies[0].startswith(BOM):
            bodies[0] = bodies[0][len(BOM):]
        hashes.update(map(hash, bodies))
        count += len(bodies)
        if len(hashes) < count:
            return False
        pos = end
    return True


def file_twins(data: bytes, offsets: Sequence[int], max_line_bytes: int, region_bytes: int) -> list[tuple[int, int]]:
    """(line index, offset of the earlier identical line) of each duplicate line of a file's slice, in order.

    Most streams repeat no line: a hash of every body (C speed) shows it, and the line-by-line
    comparison of ``iter_lines`` runs only for a file where two hashes meet.
    """
    if _all_lines_differ(data, len(offsets), region_bytes, bool(offsets) and offsets[0] == 0):
        return []
    deduper = LineDeduper(data)
    twins = []
    for i, offset, _start, _end, body_start, body_end, _nl in line_spans(data, offsets):
        body = data[body_start:body_end]
        if refused_unparsed(body, max_line_bytes) is None:
            twin = deduper.twin(body, offset, body_start, body_end)
            if twin is not None:
                twins.append((i, twin))
    return twins


def block_tasks(source: str, path: str, obj: str, data: bytes, offsets: Sequence[int],
                twins: list[tuple[int, int]], blocks: Collection[int], time_field: str,
                max_line_bytes: int) -> Iterator[tuple]:
    """``stream_chunk``'s arguments for the lines of one file's slice in the given blocks only (a block: the
    lines whose original offset // ``LINE_BLOCK`` is its number), one chunk per block; the last one
    marked (an empty chunk when the file's last block is not among them).

    A sampled determinism check re-extracts these: each chunk gives what a full pass gives its lines,
    because the file's duplicates (``twins``) were found over every line.
    """
    block_size = check_sample.LINE_BLOCK
    pos = first = t = 0
    last_block = True
    while first < len(offsets):
        block = offsets[first] // block_size
        end, stop = pos, first
        while stop < len(offsets) and offsets[stop] // block_size == block:
            nl = data.find(b"\n", end)
            end = len(data) if nl < 0 else nl + 1
            stop += 1
        while t < len(twins) and twins[t][0] < first:
            t += 1
        last_block = stop == len(offsets)
        if block in blocks:
            mine = {}
            while t < len(twins) and twins[t][0] < stop:
                mine[twins[t][0] - first] = twins[t][1]
                t += 1
            yield (source, path, obj, data[pos:end], offsets[first:stop], mine, pos, last_block, time_field,
                   max_line_bytes)
        pos, first = end, stop
    if not (offsets and last_block and offsets[-1] // block_size in blocks):
        yield (source, path, obj, b"", [], {}, len(data), True, time_field, max_line_bytes)


def chunk_tasks(store: ObjectStore, source: str, files: Sequence[StreamFile], time_field: str,
                max_line_bytes: int, chunk_bytes: int,
                blocks: Mapping[str, Collection[int]] | None = None) -> Iterator[tuple]:
    """``stream_chunk``'s arguments for consecutive chunks (about ``chunk_bytes`` of whole lines, at most
    ``CHUNK_MAX_LINES`` lines) of each file; with ``blocks`` ({path: block numbers}), for those line
    blocks of each file only (``block_tasks``).

    Duplicates are found over the whole file first. A file yields at least one chunk (an empty one
    for a file without lines), the last one marked.
    """
    for path, obj, offsets in files:
        data = store.get(obj)
        twins = file_twins(data, offsets, max_line_bytes, chunk_bytes)
        if blocks is not None:
            yield from block_tasks(source, path, obj, data, offsets, twins, blocks.get(path, ()), time_field,
                                   max_line_bytes)
            continue
        t = 0  # the next duplicate not yet given to a chunk
        pos = first = 0
        while True:
            end = data.find(b"\n", pos + chunk_bytes) + 1 if pos + chunk_bytes < len(data) else 0
            lines = data.count(b"\n", pos, end or len(data))  # the tail too: it may hold many short lines
            if lines > CHUNK_MAX_LINES:  # short lines: end the chunk after its CHUNK_MAX_LINES-th line instead
                end = pos
                for _ in range(CHUNK_MAX_LINES):
                    end = data.find(b"\n", end) + 1
                lines = CHUNK_MAX_LINES
            if not end or first + lines >= len(offsets):
                break
            mine = {}
            while t < len(twins) and twins[t][0] < first + lines:
                mine[twins[t][0] - first] = twins[t][1]
                t += 1
            yield (source, path, obj, data[pos:end], offsets[first:first + lines], mine, pos, False, time_field,
                   max_line_bytes)
            pos, first = end, first + lines
        rest = {i - first: twin for i, twin in twins[t:]}
        yield (source, path, obj, data[pos:], offsets[first:], rest, pos, True, time_field, max_line_bytes)


def iter_stream_chunks(store: ObjectStore, source: str, files: Sequence[StreamFile], time_field: str,
                       max_line_bytes: int, workers: int | None = None, chunk_bytes: int | None = None,
                       blocks: Mapping[str, Collection[int]] | None = None) -> Iterator[StreamChunk]:
    """``stream_chunk`` of every chunk of ``files`` (of their ``blocks`` only, when given), in order; in a
    spawn pool when it pays."""
    workers = workers_setting() if workers is None else workers
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    if blocks is None:
        lines = sum(len(offsets) for _, _, offsets in files)
    else:
        size = check_sample.LINE_BLOCK
        lines = sum(sum(1 for o in offsets if o // size in blocks.get(path, ())) for path, _, offsets in files)
    tasks = chunk_tasks(store, source, files, time_field, max_line_bytes, chunk_bytes, blocks)
    if workers <= 1 or lines < POOL_MIN_LINES:
        for task in tasks:
            yield stream_chunk(*task)
        return
    yield from in_order(_worker_chunk, tasks, workers)
