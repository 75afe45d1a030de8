"""Partition-exact Delta reads and writes: the storage layer every asset goes through.

The library IO managers overwrite whole tables when a predicate cannot be built and
read only the first partition for unpartitioned consumers (reference/dagster-notes
§3.2). Here a write:
  * refuses rows outside the partitions being written (naming the first such row),
  * refuses a frame that does not match the table contract (naming the column),
  * replaces exactly those partitions in ONE Delta commit (``predicate`` overwrite),
  * records row count, content hash and a write token in the commit metadata,
  * serialises writers of one partition with a Delta application transaction per
    (table, partition) and retries a lost race from a fresh snapshot,
  * never falls back to a whole-table overwrite (the table is created empty first).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import NoReturn

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from core.content_hash import content_hash
from core.contracts import TableContract
from core.delta_files import (
    ROW_GROUP_ROWS,
    iter_partition_file_batches,
    location,
    partition_values,
    writable,
    write_file,
)

Partition = tuple[str, dt.date]  # (source, day)
META_PREFIX = "evidence_lake."
MAX_COMMIT_ATTEMPTS = 8
# ZSTD level 1 measured fastest and smallest on evidence rows: 0.29 s / 18 MB per 100k rows,
# against 0.63 s / 32 MB for the writer's default (benchmarks/evidence.py, 2 cores).
# Row groups of 128k rows: the Parquet writer holds one row group uncompressed, and the default (1M
# rows) made that a whole postings partition (+250 MiB to write the stdlib's; now +120 MiB).
WRITER_PROPERTIES = WriterProperties(compression="ZSTD", compression_level=1, max_row_group_size=ROW_GROUP_ROWS)
ARROW_CHUNK_ROWS = 100_000
# Commits per checkpoint. Opening a table reads the last checkpoint and every commit file after it;
# delta-rs checkpoints every 100 commits, and a table 99 commits past one took 31 ms to open against
# 5 ms after it. A partition run opens ~50 tables, and a daily source adds a commit a day per table.
CHECKPOINT_EVERY = 10


def arrow_batches(df: pl.DataFrame) -> pa.RecordBatchReader:
    """``df`` as a stream of Arrow batches converted a chunk at a time, so a write never holds a
    second, Arrow copy of the whole frame (polars string views become Arrow strings by copying)."""
    schema = df.slice(0, 0).to_arrow().schema
    chunks = (batch for start in range(0, df.height, ARROW_CHUNK_ROWS)
              for batch in df.slice(start, ARROW_CHUNK_ROWS).to_arrow().to_batches())
    return pa.RecordBatchReader.from_batches(schema, chunks)


class LakeWriteError(RuntimeError):
    """A write was refused before anything was committed; the message says why."""


class LakeReadError(RuntimeError):
    """A table or its files cannot be read; the message names the table and the file."""


@dataclass(frozen=True)
class WriteReceipt:
    table_uri: str
    version: int
    rows: int
    content_hash: str
    partitions: tuple[Partition, ...]


def storage_options_from_env() -> dict[str, str] | None:
    """Object-store options as JSON in ``EVIDENCE_LAKE_STORAGE_OPTIONS`` (AWS_* vars also work)."""
    raw = os.environ.get("EVIDENCE_LAKE_STORAGE_OPTIONS")
    if not raw:
        return None
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"EVIDENCE_LAKE_STORAGE_OPTIONS is not JSON: {exc}") from exc
    if not isinstance(opts, dict):
        raise ValueError("EVIDENCE_LAKE_STORAGE_OPTIONS must be a JSON object of strings")
    return {str(k): str(v) for k, v in opts.items()}


def table_uri(root: str, contract: TableContract) -> str:
    return f"{root.rstrip('/')}/{contract.layer}/{contract.name}"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def partition_predicate(partitions: Iterable[Partition]) -> str:
    """``(source = 'a' AND day = '2026-01-01') OR ...`` for the Delta replace-where."""
    clauses = [f"(source = {_sql_literal(s)} AND day = '{d.isoformat()}')" for s, d in sorted(set(partitions))]
    if not clauses:
        raise LakeWriteError("no partitions given: refusing a write that would have no predicate")
    return " OR ".join(clauses)


def check_frame(df: pl.DataFrame, contract: TableContract, partitions: Sequence[Partition]) -> pl.DataFrame:
    """Conform ``df`` to the contract and to the partitions, or raise naming what is wrong."""
    expected = contract.polars_schema
    for name, dtype in expected.items():
        if name not in df.columns:
            raise LakeWriteError(f"{contract.table_id}: column '{name}' is missing (expected {dtype})")
        if df.schema[name] != dtype:
            raise LakeWriteError(
                f"{contract.table_id}: column '{name}' has type {df.schema[name]}, contract says {dtype}"
            )
    extra = [c for c in df.columns if c not in expected]
    if extra:
        raise LakeWriteError(f"{contract.table_id}: column '{extra[0]}' is not in the contract ({extra})")
    df = df.select(list(expected))
    if df.height:
        allowed = pl.DataFrame(
            {"source": [p[0] for p in partitions], "day": [p[1] for p in partitions]},
            schema={"source": pl.Utf8, "day": pl.Date},
        )
        # lazily: the eager unique of 5M postings' (source, day) held +310 MiB; this holds a few MiB
        outside = df.lazy().select("source", "day").unique().join(allowed.lazy(), on=["source", "day"],
                                                                    how="anti").collect()
        if outside.height:
            bad = outside.row(0, named=True)
            raise LakeWriteError(
                f"{contract.table_id}: rows for partition ({bad['source']}, {bad['day']}) are not in the "
                f"partitions being written {sorted((s, d.isoformat()) for s, d in partitions)}"
            )
    return df


def _snapshot(uri: str, contract: TableContract, storage_options: dict[str, str] | None) -> DeltaTable:
    """The table's current snapshot, creating the empty table first when there is none.

    One open per attempt: probing with ``is_deltatable`` first cost an extra log listing per
    write, which on an object store is a round trip or two.
    """
    try:
        return DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        ensure_table(uri, contract, storage_options)
        return DeltaTable(uri, storage_options=storage_options)


def write_partitions(
    root: str,
    contract: TableContract,
    df: pl.DataFrame,
    partitions: Sequence[Partition],
    extra_metadata: dict[str, str] | None = None,
    storage_options: dict[str, str] | None = None,
    extra_scope: dict[str, list[str]] | None = None,
    before_commit: Callable[[], None] | None = None,
) -> WriteReceipt:
    """Replace exactly ``partitions`` of the table with ``df`` in one commit.

    For a contract with ``scope_columns`` only rows of those partitions whose scope values
    occur in ``df`` (or in ``extra_scope`` when ``df`` is empty) are replaced.
    Concurrent writers of one partition end with exactly one writer's rows: each commit
    carries a per-partition guard (``partition_guards``) and a loser retries from a fresh
    snapshot. ``before_commit`` runs once between reading the snapshot and committing
    (tests force races with it).
    """
    partitions = tuple(sorted(set(partitions)))
    given = df
    df = check_frame(df, contract, partitions)
    # The hash (Python and orjson, holding the GIL) runs while pyarrow writes the Parquet file (releasing
    # it): the 4x stdlib's 4.95M postings written in 7.2-7.9 -> 4.7-5.8 s. A write refused early still waits
    # for the hash when the executor closes. Hashed is the frame as given: the same columns and values as
    # the conformed one (the hash orders columns by name), and the object a step may have hashed already
    # (core.content_hash keeps that digest).
    with ThreadPoolExecutor(1, thread_name_prefix="content-hash") as hasher:
        hashing = hasher.submit(content_hash, given, contract.key, contract.volatile)
        return _replace(root, contract, df, partitions, hashing, extra_metadata, storage_options, extra_scope,
                        before_commit)


def _replace(root: str, contract: TableContract, df: pl.DataFrame, partitions: tuple[Partition, ...],
             hashing: Future, extra_metadata: dict[str, str] | None, storage_options: dict[str, str] | None,
             extra_scope: dict[str, list[str]] | None, before_commit: Callable[[], None] | None) -> WriteReceipt:
    """``write_partitions`` once ``df`` is conformed and its content hash under way in ``hashing``."""
    uri = table_uri(root, contract)
    token = uuid.uuid4().hex

    def commit_metadata() -> dict[str, str]:  # waits for the hash; its own errors (NaN) propagate as they are
        return {
            f"{META_PREFIX}table": contract.table_id,
            f"{META_PREFIX}partitions": json.dumps([[s, d.isoformat()] for s, d in partitions]),
            f"{META_PREFIX}rows": str(df.height),
            f"{META_PREFIX}content_hash": hashing.result(),
            f"{META_PREFIX}schema_version": str(contract.schema_version),
            f"{META_PREFIX}write_token": token,
            **{f"{META_PREFIX}{k}": str(v) for k, v in (extra_metadata or {}).items()},
        }

    predicate = partition_predicate(partitions)
    for column in contract.scope_columns:
        values = sorted(set(df[column].to_list())) or list((extra_scope or {}).get(column, []))
        if not values and df.height == 0:  # nothing to add and no scope to clear: a ledger batch of no rows
            table = open_table(root, contract, storage_options)
            return WriteReceipt(table_uri(root, contract), table.version() if table else -1, 0, hashing.result(),
                                partitions)
        if not values:
            raise LakeWriteError(f"{contract.table_id}: a write scoped by '{column}' needs its value; "
                                 "the frame is empty and no scope was given")
        predicate = f"({predicate}) AND {column} IN ({', '.join(_sql_literal(str(v)) for v in values)})"
    # one partition of plain columns: our own Parquet file, committed by delta-rs (core.delta_files);
    # ledgers (a scope predicate on a data column) and multi-partition writes go through delta-rs's writer
    own_file = (len(partitions) == 1 and not contract.scope_columns
                and tuple(partition_values(partitions[0])) == contract.partition_columns
                and writable(contract.polars_schema, partitions[0]))
    adds: list | None = None
    metadata: dict[str, str] | None = None
    for attempt in range(1, MAX_COMMIT_ATTEMPTS + 1):
        try:
            table = _snapshot(uri, contract, storage_options)  # the snapshot this attempt replaces
            guards = partition_guards(table, contract, partitions)
        except Exception as exc:
            raise storage_error(uri, exc, storage_options) from None  # its text is in the message
        if before_commit is not None and attempt == 1:
            before_commit()
        try:
            if own_file and adds is None:  # written once: a retry commits the same file on a fresh snapshot
                _check_stored_schema(table, contract, uri)
                added = write_file(location(uri, storage_options), df, partitions[0])
                adds = [added] if added is not None else []
        except LakeWriteError:
            raise
        except Exception as exc:
            _raise_write_error(exc, contract, uri, storage_options)
        if metadata is None:
            try:
                metadata = commit_metadata()
            except BaseException:
                _remove_files(uri, adds or [], storage_options)  # never committed: nothing references them
                raise
        properties = CommitProperties(custom_metadata=metadata, max_commit_retries=5, app_transactions=guards)
        try:
            if own_file:
                snapshot_version = table.version()
                table.create_write_transaction(
                    adds, mode="overwrite", schema=_delta_schema(tuple(contract.polars_schema.items()))[0],
                    partition_by=list(contract.partition_columns),
                    partition_filters=[(name, "=", value) for name, value in partition_values(partitions[0]).items()],
                    commit_properties=properties)
                _load_commit(table, snapshot_version, token)
            else:
                write_deltalake(
                    table,
                    arrow_batches(df),  # a fresh stream each attempt: a retry re-reads it
                    mode="overwrite",
                    predicate=predicate,
                    partition_by=list(contract.partition_columns),
                    writer_properties=WRITER_PROPERTIES,
                    commit_properties=properties,
                )
            break
        except CommitFailedError:
            # Another writer committed one of these partitions after our snapshot (its guard
            # transaction conflicts with ours): redo the whole replace from a fresh snapshot.
            if attempt == MAX_COMMIT_ATTEMPTS:
                _remove_files(uri, adds or [], storage_options)  # never committed: nothing references them
                raise
            time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        except LakeWriteError:
            raise
        except Exception as exc:
            _raise_write_error(exc, contract, uri, storage_options)
    digest = metadata[f"{META_PREFIX}content_hash"]
    # ``table`` stands at the version this write committed: no reopen, no history scan
    _checkpoint_if_due(table)
    if not contract.scope_columns and len(partitions) == 1 and df.height:
        from core.verified import remember_written

        remember_written(uri, table, partitions[0], digest)  # later verified reads of it need not hash again
    return WriteReceipt(uri, table.version(), df.height, digest, partitions)


def _raise_write_error(exc: Exception, contract: TableContract, uri: str,
                       storage_options: dict[str, str] | None) -> NoReturn:
    """A failed write: a schema mismatch named as such, anything else as a storage error (whose message
    carries the cause's text, so the cause is not chained)."""
    if "Schema" in type(exc).__name__ or "schema" in str(exc).lower():
        raise LakeWriteError(
            f"{contract.table_id} at {uri}: the stored table's schema does not match the contract "
            f"(schema_version {contract.schema_version}): {exc}. Migrate the table or write to a new root.") from exc
    raise storage_error(uri, exc, storage_options) from None


@functools.lru_cache(maxsize=256)
def _delta_schema(columns: tuple[tuple[str, pl.DataType], ...]) -> tuple[pa.Schema, tuple[tuple[str, str], ...]]:
    """A contract's Arrow schema and its Delta (name, type) fields, made once per column list (each write asks)."""
    from deltalake import Schema

    arrow = pl.DataFrame(schema=dict(columns)).to_arrow().schema
    return arrow, tuple((f.name, str(f.type)) for f in Schema.from_arrow(arrow).fields)


def _check_stored_schema(table: DeltaTable, contract: TableContract, uri: str) -> None:
    """Refuse to add files of the contract's columns to a table stored with other columns or types (delta-rs's
    own writer refuses such a write; a transaction of added files would not)."""
    stored = tuple((f.name, str(f.type)) for f in table.schema().fields)
    expected = _delta_schema(tuple(contract.polars_schema.items()))[1]
    if stored != expected:
        differing = [f"{e} stored as {s}" for s, e in zip(stored, expected, strict=False) if s != e] or [
            f"{len(stored)} columns stored, {len(expected)} in the contract"]
        raise LakeWriteError(
            f"{contract.table_id} at {uri}: the stored table's schema does not match the contract "
            f"(schema_version {contract.schema_version}): {differing[0]}. Migrate the table or write to a new root.")


def _load_commit(table: DeltaTable, snapshot_version: int, token: str) -> None:
    """Move ``table`` to the version our transaction committed: the next one after the snapshot, unless
    delta-rs rebased the commit past other writers' (then the history names it by our write token)."""
    table.update_incremental()
    if table.version() == snapshot_version + 1:
        return
    for entry in table.history(table.version() - snapshot_version):
        if entry.get(f"{META_PREFIX}write_token") == token:
            table.load_as_version(entry["version"])
            return
    raise LakeStorageError(f"{table.table_uri}: delta-rs reported the commit of write {token}, but no version since "
                           f"{snapshot_version} carries it; read the table's history before writing again")


def _checkpoint_if_due(table: DeltaTable) -> None:
    """Checkpoint the version just committed when it is a multiple of ``CHECKPOINT_EVERY``.

    A writer whose commit skips that multiple (another writer took it) leaves it to the next one; the
    checkpoint of a committed version is the same file whoever writes it. It only speeds opens up: a
    failure is logged, not raised, and the commit stands.
    """
    version = table.version()
    if version <= 0 or version % CHECKPOINT_EVERY:
        return
    try:
        table.create_checkpoint()
    except Exception as exc:  # noqa: BLE001 (the write succeeded; only later opens get slower)
        logging.getLogger(__name__).warning("no checkpoint of %s at version %s: %s", table.table_uri, version, exc)


def _remove_files(uri: str, adds: list, storage_options: dict[str, str] | None) -> None:
    """Best effort: delete data files of a transaction that was refused (no version references them)."""
    where = location(uri, storage_options)
    for add in adds:
        with contextlib.suppress(OSError):
            where.fs.delete_file(f"{where.table_path}/{add.path}")


class LakeStorageError(OSError):
    """The lake's storage cannot be reached or refuses us (missing bucket, wrong keys, server down)."""


def storage_error(uri: str, exc: BaseException, storage_options: dict[str, str] | None) -> LakeStorageError:
    """A one-line error naming the table URI, with every secret of the storage options redacted."""
    from core.objects import redacted_cause

    return LakeStorageError(f"cannot write {uri}. Check that the bucket exists and that "
                            f"EVIDENCE_LAKE_STORAGE_OPTIONS reach it. Cause: {redacted_cause(exc, storage_options)}")


def guard_app_id(contract: TableContract, partition: Partition) -> str:
    """The Delta application-transaction id that serialises writers of one (table, partition)."""
    source, day = partition
    return f"evidence_lake/{contract.table_id}/{day.isoformat()}/{source}"


def partition_guards(table: DeltaTable, contract: TableContract, partitions: Sequence[Partition]) -> list[Transaction]:
    """One application transaction per partition written, numbered one past the snapshot's.

    delta-rs fails a commit whose app ids were also set by a commit it did not read
    (``ConcurrentTransaction``), whatever the predicates say. Predicate overwrites alone do not
    always conflict (delta-io/delta-rs#3622), so this is what makes two writers of one partition
    end with exactly one writer's rows. The version is a per-partition write generation.
    """
    guards = []
    for partition in partitions:
        app_id = guard_app_id(contract, partition)
        guards.append(Transaction(app_id, (table.transaction_version(app_id) or 0) + 1))
    return guards


def ensure_table(uri: str, contract: TableContract, storage_options: dict[str, str] | None = None) -> None:
    """Create the empty table with the contract's schema unless it exists.

    Every write is then a predicate overwrite of a snapshot. Without this, two writers that
    both found no table would both write without a predicate, and delta-rs commits the second
    as an append on top of the first: both writers' rows.
    """
    if DeltaTable.is_deltatable(uri, storage_options=storage_options):
        return
    try:
        DeltaTable.create(uri, contract.empty().to_arrow().schema, mode="ignore",
                          partition_by=list(contract.partition_columns), storage_options=storage_options)
    except Exception:
        if not DeltaTable.is_deltatable(uri, storage_options=storage_options):  # a racing creator won otherwise
            raise


def _broken_data_file(table: DeltaTable) -> str | None:
    """The first data file the log lists that is missing or not a readable Parquet file (local tables)."""
    import pyarrow.parquet as pq

    for uri in table.file_uris():
        path = uri.removeprefix("file://")
        if "://" in path:
            return None  # object stores: delta-rs's own message has to do
        if not os.path.exists(path):
            return f"{path} (missing)"
        try:
            pq.ParquetFile(path).metadata  # noqa: B018 (reading the footer is the test)
        except Exception as exc:
            return f"{path} ({type(exc).__name__}: {exc})"
    return None


def open_table(
    root: str, contract: TableContract, storage_options: dict[str, str] | None = None, version: int | None = None
) -> DeltaTable | None:
    """The table (None when absent); a log that cannot be read raises LakeReadError naming the table."""
    return open_delta(table_uri(root, contract), storage_options, version, contract.table_id)


def open_delta(uri: str, storage_options: dict[str, str] | None = None, version: int | None = None,
               name: str | None = None) -> DeltaTable | None:
    """``DeltaTable(uri)``, or None when there is no table, or LakeReadError (never a Rust backtrace)."""
    try:
        return DeltaTable(uri, version=version, storage_options=storage_options)
    except TableNotFoundError:
        return None
    except DeltaError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        culprit = _broken_log_file(uri)
        where = f"; damaged commit file: {culprit}" if culprit else ""
        raise LakeReadError(
            f"cannot read the Delta log of {name or uri} at {uri}{where}: {first[:300]}. The other tables are not "
            "affected. Restore the file from a backup, or move it away and re-materialise the partitions its "
            "commit wrote (`evidence-lake backfill`)."
        ) from None


def _broken_log_file(uri: str) -> str | None:
    """The first ``_delta_log/*.json`` of a local table that is not valid JSON lines, if any."""
    log = os.path.join(uri.removeprefix("file://"), "_delta_log")
    if "://" in uri.removeprefix("file://") or not os.path.isdir(log):
        return None
    for name in sorted(n for n in os.listdir(log) if n.endswith(".json")):
        path = os.path.join(log, name)
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        json.loads(line)
        except (ValueError, OSError):
            return path
    return None


def read_partitions(
    root: str,
    contract: TableContract,
    partitions: Sequence[Partition] | None = None,
    storage_options: dict[str, str] | None = None,
    version: int | None = None,
    verify: bool | None = None,
    columns: Sequence[str] | None = None,
    where: pl.Expr | None = None,
    table: DeltaTable | None = None,
) -> pl.DataFrame:
    """Rows of ``partitions`` (all rows when None); an absent table reads as empty.

    ``table`` reads that snapshot of the table instead of opening it again (a caller that reads one
    table several times: each open lists the Delta log, a round trip or more on an object store).

    ``columns`` and ``where`` read a projection (only those columns, only matching rows) straight
    from the scan, for a step that needs a sliver of a wide partition. A projection is not the
    partition: it cannot be verified (``verify=True`` is refused) and carries no content hash.

    A data file that the log lists but that is missing or unreadable raises
    LakeReadError naming the file: never an empty or partial result. ``verify`` (default: on,
    unless EVIDENCE_LAKE_NO_VERIFY=1) checks every partition returned against our commits and
    raises TamperedDataError naming table, partition and row (core.verified). The pipeline
    passes False: its checks verify and report instead of raising.
    """
    projected = columns is not None or where is not None
    if projected and verify:
        raise ValueError(f"{contract.table_id}: a projected read (columns/where) cannot be verified; "
                         "read whole partitions to verify them")
    if columns is not None and (unknown := [c for c in columns if c not in contract.polars_schema]):
        raise ValueError(f"{contract.table_id} has no column(s) {unknown}")
    if table is not None and version is not None:
        raise ValueError(f"{contract.table_id}: give a table snapshot or a version to open, not both")
    table = table if table is not None else open_table(root, contract, storage_options, version)
    if table is None or (partitions is not None and not partitions):
        empty = contract.empty()
        return empty.select(columns) if columns is not None else empty
    try:
        lf = pl.scan_delta(table)
        if partitions is not None:
            lf = _only(lf, partitions)
        if where is not None:
            lf = lf.filter(where)
        if columns is not None:
            lf = lf.select(columns)
        df = lf.collect()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # polars/delta-rs raise several types, a Rust panic included (BaseException)
        raise _read_error(root, contract, table, exc) from exc
    df = df.select(list(columns) if columns is not None else [c for c in contract.polars_schema if c in df.columns])
    if projected:
        return df
    from core.verified import verification_on, verify_partitions

    if verification_on() if verify is None else verify:
        verify_partitions(table_uri(root, contract), contract, table, df, partitions)
    _remember_known_hash(root, contract, table, df, partitions)
    return df


def _read_error(root: str, contract: TableContract, table: DeltaTable, exc: BaseException) -> LakeReadError:
    """What a failed read of ``table`` says: the table, its version, the broken file if one is, what to do."""
    culprit = _broken_data_file(table)
    broken = f"; broken data file: {culprit}" if culprit else ""
    return LakeReadError(
        f"cannot read {contract.table_id} at {table_uri(root, contract)} (version {table.version()}){broken}: "
        f"{type(exc).__name__}: {str(exc)[:300]}. Re-materialise the affected partitions, or restore the "
        "file from a backup; `DeltaTable(...).history()` shows which commit added it.")


def summarise_partition(root: str, contract: TableContract, partition: Partition,
                        queries: Sequence[Callable[[pl.LazyFrame], pl.LazyFrame]],
                        storage_options: dict[str, str] | None = None,
                        table: DeltaTable | None = None) -> list[pl.DataFrame]:
    """Each query's result over the partition's rows, from a streaming scan: the rows are never all held.

    For aggregates (group-bys, counts, filters to a few rows) of a partition too large to read whole: the
    4x stdlib's 4.95M postings take +650 MiB read, their df per term +38 MiB streamed. Every query scans
    the same table version, one query at a time: the index checks' three postings queries in one plan
    peaked at +340–550 MiB, one after another at +40 (df) and +150–270 (lengths). An absent table gives
    each query over no rows. ``table`` pins the version scanned (default: the latest).
    """
    table = table or open_table(root, contract, storage_options)
    if table is None:
        return [query(contract.empty().lazy()).collect() for query in queries]
    scan = _only(pl.scan_delta(table), [partition])
    try:
        return [query(scan).collect(engine="streaming") for query in queries]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # as read_partitions
        raise _read_error(root, contract, table, exc) from exc


def partition_batches(root: str, contract: TableContract, partition: Partition,
                      storage_options: dict[str, str] | None = None,
                      table: DeltaTable | None = None) -> Iterator[pl.DataFrame]:
    """The partition's rows two Parquet row groups at a time (file order, then row order; the contract's columns).

    For a rule that must see every row but not all at once (a schema check): the 4x stdlib's postings
    peak at +150 MiB this way. polars' own batched collect held +390 MiB (it runs ahead of the consumer)
    and slicing a scan rereads from the start. Partition columns are not in the files: they are added
    from the partition, typed by the contract, as ``scan_delta`` adds them (test). ``table``: the snapshot
    to read (default: the latest, opened here).
    """
    table = table if table is not None else open_table(root, contract, storage_options)
    if table is None:
        return
    try:
        yield from iter_partition_file_batches(table_uri(root, contract), table, contract.polars_schema, partition,
                                               storage_options)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # as read_partitions
        raise _read_error(root, contract, table, exc) from exc
    finally:
        pa.default_memory_pool().release_unused()  # pyarrow's pool keeps freed pages otherwise (+120 MiB)


def _only(lf: pl.LazyFrame, partitions: Sequence[Partition]) -> pl.LazyFrame:
    """Rows of exactly ``partitions``, reading only their files.

    A filter on the partition columns lets the scan skip every other partition's files; the semi
    join used before read the whole table, so one partition's read grew with the lake's history.
    """
    return lf.filter(pl.any_horizontal([(pl.col("source") == source) & (pl.col("day") == day)
                                        for source, day in sorted(set(partitions))]))


def _remember_known_hash(root: str, contract: TableContract, table: DeltaTable, df: pl.DataFrame,
                         partitions: Sequence[Partition] | None) -> None:
    """One whole partition read from files our writer hashed (unchanged since, core.verified): its hash is
    that digest, so a step that hashes the rows it was given (the index manifest) does not hash them again.

    Only for a frame of exactly the contract's columns and types, the frame the writer hashed.
    """
    if partitions is None or len(partitions) != 1 or dict(df.schema) != dict(contract.polars_schema):
        return
    from core.content_hash import remember

    digest = known_partition_hash(root, contract, table, partitions[0])
    if digest is not None:
        remember(df, contract.key, contract.volatile, digest)


def known_partition_hash(root: str, contract: TableContract, table: DeltaTable, partition: Partition) -> str | None:
    """The partition's content hash as our writer recorded it, while its data files are unchanged (core.verified).

    None for a scoped table (a ledger, scores by scorer version): what is remembered for it is the
    digest of its newest batch, which is not the hash of the whole partition.
    """
    if contract.scope_columns:
        return None
    from core.verified import known_hash

    return known_hash(table_uri(root, contract), table, partition)


HISTORY_DEADLINE_S = 60.0


def commit_history(table: DeltaTable) -> list[dict]:
    """Commit infos of ``table``, newest first, each with its true ``version``; moves ``table`` to the latest.

    ``DeltaTable.history()`` (deltalake 1.6) numbers entries down from the version the table
    object was *loaded* at, but lists commit files up to the newest in storage: a commit that
    lands between the open and the call shifts every number by one, and a reader then opens
    the wrong version (seen with two parallel runs writing one table). The listing is trusted
    only when the table's version did not move across it; otherwise it is taken again, after a
    short jittered pause, until a quiet moment or ``HISTORY_DEADLINE_S``. A budget in time, not
    in attempts: a writer committing back to back can take many attempts, but never a minute.
    """
    deadline = time.monotonic() + HISTORY_DEADLINE_S
    attempts = 0
    while True:
        table.update_incremental()
        before = table.version()
        entries = table.history()
        table.update_incremental()
        attempts += 1
        if table.version() == before:
            return entries
        if time.monotonic() > deadline:
            raise LakeReadError(
                f"{table.table_uri}: the table kept changing while its history was read ({attempts} attempts "
                f"in {HISTORY_DEADLINE_S:.0f} s); retry when writers are quieter.")
        time.sleep(min(0.2, 0.005 * attempts) * (0.5 + random.random()))


def list_partitions(root: str, contract: TableContract, storage_options: dict[str, str] | None = None
                    ) -> list[Partition]:
    """(source, day) pairs that hold data, from the Delta log alone (no data file is read)."""
    table = open_table(root, contract, storage_options)
    if table is None:
        return []
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if actions.height == 0:
        return []
    pairs = actions.select(pl.col("partition.source").alias("s"), pl.col("partition.day").cast(pl.Utf8).alias("d"))
    return sorted({(s, dt.date.fromisoformat(d)) for s, d in pairs.unique().iter_rows()})


def reuse_day(root: str, contract: TableContract, source: str, day: dt.date,
              storage_options: dict[str, str] | None = None) -> dt.date | None:
    """The day whose stored rows a (source, day) build may reuse: that day itself when it holds data
    (a rerun), else the source's latest earlier day with data; None when there is neither."""
    days = [d for s, d in list_partitions(root, contract, storage_options) if s == source and d <= day]
    return days[-1] if days else None
