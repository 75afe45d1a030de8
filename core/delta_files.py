"""A partition's Parquet data file, written here and committed by delta-rs (``create_write_transaction``).

Why not delta-rs's own writer: it held +470–630 MiB to write the 4.95M postings of four stdlib copies
(any target file size, overwrite or append), and it reorders rows even within one file, so a partition
read back was never in key order and hashing it cold needed the content hash's sort (+1.3 GiB).
pyarrow's ``ParquetWriter`` streams 128k-row row groups (+51 MiB for the same rows, 2.4 s against
3.3 s) and keeps the rows in the order given.

The add action's statistics matter for correctness, not only speed: polars' ``scan_delta`` skips a
file whose statistics lack a filtered column's min/max (``tf > 100`` returned no row of 4.95M). So
every file carries what delta-rs writes: ``numRecords``, ``nullCount`` of every non-nested column, and
min/max of every non-nested column holding a value, as bounds: strings past ``STATS_STRING_CHARS``
are cut (the max rounded up), timestamps go to milliseconds (min down, max up).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.transaction import AddAction

from core.objects import filesystem_for

ROW_GROUP_ROWS = 131_072  # rows per row group, for our files and delta-rs's (core.lake.WRITER_PROPERTIES)
# polars hands its strings to Arrow as they are (string views) instead of copying them into Arrow strings: the
# file's bytes are the same (test); the copies cost 0.4 s of the 9 s that write 26.5M postings (1M kb lines)
ARROW_VIEWS = pl.CompatLevel.newest()
STATS_STRING_CHARS = 64  # a sha256 id whole; a payload's stats are a bound, not the value
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # partition values that need no escaping in a path
_SIMPLE = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.Utf8, pl.Boolean, pl.Date,
           pl.Float32, pl.Float64)


@dataclass(frozen=True)
class Location:
    """Where a table's files go: a pyarrow filesystem and the table's path on it."""

    fs: pafs.FileSystem
    table_path: str


def location(uri: str, storage_options: dict[str, str] | None) -> Location:
    """The filesystem of a table URI: local paths and ``file://``, or an object store configured from the
    same storage options delta-rs gets (``core.objects.filesystem_for``)."""
    if "://" not in uri or uri.startswith("file://"):
        return Location(pafs.LocalFileSystem(), os.path.abspath(uri.removeprefix("file://")))
    fs, path = filesystem_for(uri, storage_options)
    return Location(fs, path.rstrip("/"))


def writable(schema: pl.Schema, partition: tuple[str, dt.date]) -> bool:
    """Whether ``write_file`` handles these columns and this partition: every column simple, nested or a UTC
    timestamp (statistics it can bound), and a source name that needs no escaping in a path."""
    for dtype in schema.values():
        if dtype.is_nested() or any(dtype == t for t in _SIMPLE):
            continue
        if isinstance(dtype, pl.Datetime) and dtype.time_zone == "UTC":
            continue
        return False
    return bool(_SAFE_VALUE.fullmatch(partition[0]))


def partition_values(partition: tuple[str, dt.date]) -> dict[str, str]:
    """The Delta partition values of ``(source, day)``: what the add action, its directory and the
    transaction's partition filter all name."""
    source, day = partition
    return {"source": source, "day": day.isoformat()}


def write_file(where: Location, df: pl.DataFrame, partition: tuple[str, dt.date]) -> AddAction | None:
    """Write the rows of one partition (``df`` without its partition columns is what the file holds) to a new
    file under the partition's directory; the add action that commits it, or None for no rows."""
    values = partition_values(partition)
    data = df.drop(list(values))
    if not data.height:
        return None
    directories = "/".join(f"{name}={value}" for name, value in values.items())
    relative = f"{directories}/part-00000-{uuid.uuid4()}-c000.zstd.parquet"
    path = f"{where.table_path}/{relative}"
    directory = path.rpartition("/")[0]
    if isinstance(where.fs, pafs.LocalFileSystem):  # an object store has no directories (and wants no markers)
        where.fs.create_dir(directory, recursive=True)
    schema = data.slice(0, 0).to_arrow(compat_level=ARROW_VIEWS).schema
    with where.fs.open_output_stream(path) as out:
        # no Arrow schema in the footer: readers take the types from the Delta log, as for delta-rs's files
        with pq.ParquetWriter(out, schema, compression="zstd", compression_level=1, store_schema=False) as writer:
            for start in range(0, data.height, ROW_GROUP_ROWS):
                writer.write_table(data.slice(start, ROW_GROUP_ROWS).to_arrow(compat_level=ARROW_VIEWS),
                                   row_group_size=ROW_GROUP_ROWS)
        size = out.tell()
    return AddAction(relative, size, values, int(time.time() * 1000), True, file_stats(data))


def file_stats(data: pl.DataFrame) -> str:
    """The add action's ``stats`` JSON: row count, null counts, and min/max bounds of non-nested columns."""
    simple = [name for name, dtype in data.schema.items() if not dtype.is_nested()]
    nulls = data.select(simple).null_count().row(0, named=True) if simple else {}
    bounds = data.select([pl.col(c).min().alias(f"min:{c}") for c in simple]
                         + [pl.col(c).max().alias(f"max:{c}") for c in simple]).row(0, named=True) if simple else {}
    mins, maxes = {}, {}
    for name in simple:
        low, high = _bound(bounds[f"min:{name}"], up=False), _bound(bounds[f"max:{name}"], up=True)
        if low is not None and high is not None:
            mins[name], maxes[name] = low, high
    return json.dumps({"numRecords": data.height, "minValues": mins, "maxValues": maxes, "nullCount": nulls},
                      separators=(",", ":"), ensure_ascii=False)


def _bound(value: object, up: bool) -> object:
    """``value`` as a JSON statistic that is still a bound: None when the column has none to give."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        micros = value.microsecond % 1000
        if up and micros:
            value += dt.timedelta(microseconds=1000 - micros)
        else:
            value -= dt.timedelta(microseconds=micros)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _string_bound(value, up)
    return None


def _string_bound(value: str, up: bool) -> str:
    """The first STATS_STRING_CHARS characters; for a max, the cut prefix with its last character raised
    (so it stays above every value it stands for). Falls back to the whole value when nothing can be raised."""
    if len(value) <= STATS_STRING_CHARS:
        return value
    prefix = value[:STATS_STRING_CHARS]
    if not up:
        return prefix
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:i] + chr(code)
    return value


def iter_partition_file_batches(uri: str, table: DeltaTable, schema: pl.Schema | dict[str, pl.DataType],
                                partition: tuple[str, dt.date],
                                storage_options: dict[str, str] | None) -> Iterator[pl.DataFrame]:
    """The rows of one partition of ``table`` two row groups at a time, with its partition columns added.

    ``schema`` (the contract's) orders the columns and types the partition values; a column missing
    from a file is left missing, so a schema check names it. Local files are read by polars; on an object
    store the next row group is read in a thread while the caller works on this one (pyarrow reads without
    the GIL; one open file per data file, not a request for its footer per slice). So at most two row
    groups are held.
    """
    values = partition_values(partition)
    where = location(uri, storage_options)
    files = table.file_uris(file_pruning_predicate=[(name, "=", value) for name, value in values.items()])
    typed = {"source": pl.lit(partition[0], schema.get("source", pl.Utf8)),
             "day": pl.lit(partition[1], schema.get("day", pl.Date))}
    if isinstance(where.fs, pafs.LocalFileSystem):
        # polars' own reader, two row groups' rows at a time (a slice reads only its row groups): the 32M postings
        # of 1M kb lines in 4.3-4.5 s, where pyarrow's row groups took 11-12 s (on the system allocator, which
        # core.allocator gives pyarrow, every buffer is faulted in afresh); a row group a slice took 7.4-8.0 s
        for file_uri in files:
            scan = pl.scan_parquet(file_uri.removeprefix("file://"))
            rows = scan.select(pl.len()).collect().item()
            for start in range(0, rows, 2 * ROW_GROUP_ROWS):
                frame = scan.slice(start, 2 * ROW_GROUP_ROWS).collect()
                frame = frame.with_columns(expr.alias(name) for name, expr in typed.items() if name in schema)
                yield frame.select([name for name in schema if name in frame.columns])
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="row-groups") as reader:
        for file_uri in files:  # plain paths for a local table, else the URI: the filesystem takes what follows "://"
            with where.fs.open_input_file(file_uri.partition("://")[2] or file_uri) as handle:
                parquet = pq.ParquetFile(handle)
                groups = range(parquet.num_row_groups)
                ahead = [reader.submit(parquet.read_row_group, groups[0])] if groups else []
                for group in groups:
                    arrow = ahead.pop().result()
                    if group + 1 in groups:
                        ahead.append(reader.submit(parquet.read_row_group, group + 1))
                    frame = pl.DataFrame(arrow)
                    del arrow
                    frame = frame.with_columns(expr.alias(name) for name, expr in typed.items() if name in schema)
                    yield frame.select([name for name in schema if name in frame.columns])
