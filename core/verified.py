"""Reads that verify: every partition handed to a reader matches what our writer committed.

forge_memory's rule is "reads MUST verify CRC and raise on mismatch". Two layers:

* **Rows** that carry their own checksums (``payload``/``payload_sha256``/``payload_crc32``,
  evidence) are recomputed one by one, so a refusal names the row.
* **Partitions**: every write records the content hash of what it wrote in its Delta commit
  metadata. A partition read back must hash to the hash of the newest of our commits that
  wrote it (for tables written by scope, such as ledgers and scorer versions, each scope's
  rows must hash to one of our commits of that partition). A rewritten data file, a row
  deleted or edited by another tool, or a lost commit all show up here.

Hashing a whole partition costs about as much as reading it, so a verified partition is
remembered per *file signature*: its data files' paths and sizes from the Delta log, plus
their on-disk size and modification time for a local lake. Any rewrite changes the signature,
so the next read verifies again. On an object store the signature is the log's paths and sizes
(a same-size overwrite of an object in place would go unseen until the memo is cleared: Delta
never rewrites a file, so only a deliberate forger does that). The memo lives in the process
and in ``$XDG_CACHE_HOME/evidence-lake/verified`` (a read-only home simply does not write it).

``EVIDENCE_LAKE_NO_VERIFY=1`` (the CLI's ``--no-verify``) turns this off, for forensics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
import zlib
from pathlib import Path
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable

from core.content_hash import content_hash
from core.contracts import TableContract

NO_VERIFY_ENV = "EVIDENCE_LAKE_NO_VERIFY"
_memo: dict[str, str] = {}  # signature -> content hash verified
_lock = threading.Lock()


class TamperedDataError(RuntimeError):
    """What a reader was about to return is not what the lake's writer committed."""


def verification_on() -> bool:
    return os.environ.get(NO_VERIFY_ENV, "").strip().lower() not in ("1", "true", "yes")


def _cache_file(uri: str) -> Path | None:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evidence-lake" / "verified"
    return base / f"{hashlib.sha256(uri.encode()).hexdigest()[:32]}.json"


def _load(uri: str) -> dict[str, str]:
    path = _cache_file(uri)
    try:
        data = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        return {}  # no memo yet, or a torn one: verify again
    return data if isinstance(data, dict) else {}


def _store(uri: str, entries: dict[str, str]) -> None:
    path = _cache_file(uri)
    if path is None or not entries:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = {**_load(uri), **entries}
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(merged, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: every read verifies, which is correct, only slower


def _local_partition(path: str) -> tuple[str, str] | None:
    """(source, day) from a hive-style data file path (``…/source=kb/day=2026-11-16/part-….parquet``)."""
    source = day = None
    for segment in path.split("/"):
        if segment.startswith("source="):
            source = unquote(segment[7:])
        elif segment.startswith("day="):
            day = unquote(segment[4:])
    return (source, day) if source is not None and day is not None else None


def _signatures(table: DeltaTable, uri: str, only) -> dict[tuple[str, str], str]:
    """Per (source, day) of ``only`` (a set of (source, ISO day); None: all) that has files: a digest of them.

    Local lake: each file's path, real size and modification time (one stat each; a file
    rewritten in place changes them). Object store: each file's path and size from the log.
    """
    wanted = None if only is None else set(only)
    files: dict[tuple[str, str], list] = {}
    if "://" not in uri.removeprefix("file://"):
        for path in table.file_uris():
            part = _local_partition(path)
            if part is None or (wanted is not None and part not in wanted):
                continue
            local = path.removeprefix("file://")
            try:
                st = os.stat(local)
                real = (st.st_size, st.st_mtime_ns)
            except OSError:
                real = ("missing",)
            files.setdefault(part, []).append((local, *real))
    else:
        actions = table.get_add_actions(flatten=True)
        columns = [actions.column(n).to_pylist() for n in ("path", "size_bytes", "partition.source", "partition.day")]
        for path, size, source, day in zip(*columns, strict=True):
            part = (source, str(day))
            if wanted is None or part in wanted:
                files.setdefault(part, []).append((path, size))
    return {part: hashlib.sha256(json.dumps([uri, sorted(entries)]).encode()).hexdigest()
            for part, entries in files.items()}


def check_rows(contract: TableContract, df: pl.DataFrame) -> None:
    """Recompute payload_sha256/payload_crc32 of every row that carries them; raise naming the first bad row."""
    if not {"payload", "payload_sha256", "payload_crc32"} <= set(df.columns) or df.height == 0:
        return
    label = "evidence_id" if "evidence_id" in df.columns else contract.key[-1]
    for ident, source, day, payload, sha, crc in df.select(
            label, "source", "day", "payload", "payload_sha256", "payload_crc32").iter_rows():
        data = payload.encode("utf-8")
        if hashlib.sha256(data).hexdigest() != sha or zlib.crc32(data) != crc:
            raise TamperedDataError(
                f"table {contract.table_id} partition {source}/{day}: row {label}={ident} does not match its "
                "payload_sha256/payload_crc32 (the payload was changed after it was written). Re-materialise the "
                f"partition (`evidence-lake backfill --source {source} --from {day} --to {day}`), or read with "
                "--no-verify for forensics.")


def verify_partitions(uri: str, contract: TableContract, table: DeltaTable, df: pl.DataFrame,
                      partitions: list | None = None) -> None:
    """Raise TamperedDataError unless every partition in ``df`` is what our newest commits of it wrote.

    ``partitions`` are those ``df`` was read for (None: all); their data files say which hold rows,
    so the rows themselves are only touched for partitions not verified before.
    """
    if df.height == 0:
        return
    wanted = None if partitions is None else {(s, str(d)) for s, d in partitions}
    signatures = _signatures(table, uri, wanted)
    parts = sorted(signatures)
    with _lock:
        disk = _load(uri) if any(signatures[p] not in _memo for p in parts) else {}
    todo = [p for p in parts if signatures[p] not in _memo and signatures[p] not in disk]
    if not todo:
        return
    check_rows(contract, df)  # names the row when the table has per-row checksums
    from core.history import MULTI, newest_commit_hashes

    ours = newest_commit_hashes(table, up_to=table.version())
    verified: dict[str, str] = {}
    for source, day in todo:
        rows = df.filter((pl.col("source") == source) & (pl.col("day").cast(pl.Utf8) == day))
        where = f"table {contract.table_id} partition {source}/{day}"
        known = ours.get((source, dt.date.fromisoformat(day)))
        if known and known[0] == MULTI and not contract.scope_columns:
            continue  # written together with other partitions: its rows were checked above, its hash cannot be
        if not known:
            raise TamperedDataError(f"{where}: no commit of ours wrote it (added by another tool, or its commit file "
                                    "was lost); re-materialise it, or read with --no-verify for forensics.")
        groups = rows.partition_by(list(contract.scope_columns), maintain_order=True) \
            if contract.scope_columns else [rows]
        for group in groups:
            actual = content_hash(group, contract.key, contract.volatile)
            expected = known if not contract.scope_columns else None
            scoped_bad = expected is None and actual not in known and MULTI not in known
            if (expected is not None and actual != expected[0]) or scoped_bad:
                scope = f" ({', '.join(f'{c}={group[c][0]}' for c in contract.scope_columns)})" \
                    if contract.scope_columns else ""
                raise TamperedDataError(
                    f"{where}{scope}: its rows hash to {actual[:12]}…, but our newest commit of it wrote "
                    f"{known[0][:12]}… (a data file was rewritten, or rows were changed by another tool, or a "
                    "commit was lost). Re-materialise the partition, or read with --no-verify for forensics.")
        verified[signatures[(source, day)]] = known[0]
    with _lock:
        _memo.update(verified)
        _store(uri, verified)


def verify_table(root: str, contract: TableContract, storage_options: dict[str, str] | None = None,
                 table: DeltaTable | None = None, partitions: list | None = None) -> None:
    """Verify every partition (or ``partitions``) of a table that a query engine (DuckDB, a projected scan)
    is about to read directly.

    Partitions already verified under the same file signature cost one listing of the table's
    files; only the others are read and hashed. ``table`` is the version the engine will read.
    """
    if not verification_on():
        return
    from core.lake import open_table, read_partitions, table_uri

    table = table or open_table(root, contract, storage_options)
    if table is None:
        return
    uri = table_uri(root, contract)
    signatures = _signatures(table, uri, None if partitions is None else {(s, str(d)) for s, d in partitions})
    parts = sorted(signatures)
    with _lock:
        disk = _load(uri) if any(signatures.get(p) not in _memo for p in parts) else {}
    misses = [p for p in parts if signatures.get(p) not in _memo and signatures.get(p) not in disk]
    if misses:
        read_partitions(root, contract, [(s, dt.date.fromisoformat(d)) for s, d in misses], storage_options,
                        version=table.version(), verify=True)


def remember_written(uri: str, table: DeltaTable, partition: tuple, digest: str) -> None:
    """After our own single-partition commit: its files are what we just hashed, so reads need not hash again."""
    source, day = partition[0], partition[1].isoformat()
    signature = _signatures(table, uri, [(source, day)]).get((source, day))
    if signature is not None:
        with _lock:
            _memo[signature] = digest
            _store(uri, {signature: digest})


def known_hash(uri: str, table: DeltaTable, partition: tuple) -> str | None:
    """The content hash of ``partition`` as our writer committed it, when its data files are exactly those
    written or verified before (no row is read); None when they are not known."""
    source, day = partition[0], partition[1].isoformat()
    signature = _signatures(table, uri, [(source, day)]).get((source, day))
    if signature is None:
        return None
    with _lock:
        return _memo.get(signature) or _load(uri).get(signature)


def forget() -> None:
    """Drop the in-process memo (tests use it to force a fresh verification)."""
    with _lock:
        _memo.clear()
