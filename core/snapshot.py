"""Snapshot of one (source, day): the file index, its id, and the bytes put into the store.

``read_entries`` is the only place that knows the three source kinds; everything
after it is kind-agnostic. Frames are built from column lists, never from lists of
dicts (DESIGN §9).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from core.canonical import content_id
from core.contracts import SNAPSHOT_FILES, SNAPSHOTS
from core.objects import ObjectStore
from core.paths import path_key
from core.readers.entries import FileEntry, is_text, lang_hint, line_count
from core.readers.git import commit_for_day, read_git_tree
from core.readers.jsonl import read_jsonl_day
from core.readers.tree import walk_tree
from core.sources import SourceConfig


class PartitionRefused(ValueError):
    """This (source, day) cannot be materialised; the message says why and what to do."""


@dataclass
class SnapshotResult:
    snapshot: pl.DataFrame
    files: pl.DataFrame
    objects_written: int = 0
    objects_reused: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)


TODAY_ENV = "EVIDENCE_LAKE_TODAY"


def utc_today() -> dt.date:
    """Today in UTC. ``EVIDENCE_LAKE_TODAY=YYYY-MM-DD`` pins it: to reproduce a run of that day, and
    for test sessions that span midnight (a lake built before it and one built after must agree)."""
    pinned = os.environ.get(TODAY_ENV, "").strip()
    if pinned:
        try:
            return dt.date.fromisoformat(pinned)
        except ValueError:
            raise ValueError(f"{TODAY_ENV}={pinned!r} is not a date (YYYY-MM-DD); unset it to use the clock") from None
    return dt.datetime.now(dt.UTC).date()


def read_entries(source: SourceConfig, day: dt.date, today: dt.date) -> tuple[list[FileEntry], str]:
    """All entries of the partition, sorted by path, plus ``as_of`` (commit sha or window)."""
    root = str(source.path)
    if source.kind == "tree":
        if day != today:
            raise PartitionRefused(
                f"source '{source.name}' is a tree: only today's partition ({today.isoformat()} UTC) can be "
                f"materialised, not {day.isoformat()}; a tree has no history to read a past day from"
            )
        entries = list(walk_tree(root, source.max_file_bytes))
        as_of = f"tree@{today.isoformat()}"
    elif source.kind == "git":
        head = commit_for_day(root, source.ref, day)
        entries = list(read_git_tree(root, head.commit, source.max_file_bytes)) if head.commit else []
        as_of = head.commit or "none"
    elif source.kind == "jsonl":
        entries = list(read_jsonl_day(root, source.event_time_field, day, source.max_file_bytes))
        as_of = f"[{day.isoformat()}T00:00:00Z, {(day + dt.timedelta(days=1)).isoformat()}T00:00:00Z)"
    else:  # sources.py validates kinds; reaching here is our bug
        raise ValueError(f"unknown source kind {source.kind!r}")
    entries.sort(key=lambda e: e.path.encode("utf-8", "surrogatepass"))
    return entries, as_of


def snapshot_id_from_files(source_kind: str, files: pl.DataFrame) -> str:
    """sha256 of the canonical file index (path, status, object, size, line offsets), byte-ordered by path.

    Used both to build a snapshot and, by the ``snapshots_crc`` check, to re-derive it from stored rows.
    """
    ordered = files.with_columns(pl.col("path").cast(pl.Binary).alias("_order")).sort("_order")
    index = [list(row) for row in ordered.select("path", "status", "object", "size", "line_offsets").iter_rows()]
    return content_id({"source_kind": source_kind, "files": index})


def build_snapshot(
    source: SourceConfig,
    day: dt.date,
    entries: Iterable[FileEntry],
    as_of: str,
    taken_at: dt.datetime,
    store: ObjectStore | None = None,
) -> SnapshotResult:
    """Turn entries into the two partition frames; store bytes when ``store`` is given."""
    cols: dict[str, list] = {c.name: [] for c in SNAPSHOT_FILES.columns}
    written = reused = 0
    for e in entries:
        obj = crc = None
        text = lines = None
        if e.status == "stored" and e.data is not None:
            obj = hashlib.sha256(e.data).hexdigest()
            crc = zlib.crc32(e.data) & 0xFFFFFFFF
            text = is_text(e.data)
            lines = line_count(e.data) if text else None
            if store is not None:
                if store.put(e.data, obj).written:
                    written += 1
                else:
                    reused += 1
        cols["path"].append(e.path)
        cols["path_key"].append(path_key(e.path) if e.status != "invalid_path" else e.path)
        cols["object"].append(obj)
        cols["size"].append(e.size)
        cols["crc32"].append(crc)
        cols["lang_hint"].append(lang_hint(e.path))
        cols["is_text"].append(text)
        cols["line_count"].append(lines)
        cols["status"].append(e.status)
        cols["detail"].append(e.detail)
        cols["line_offsets"].append(e.line_offsets)
    if store is not None and written:
        store.flush()
    n = len(cols["path"])
    cols["schema_name"] = [SNAPSHOT_FILES.schema_name] * n
    cols["schema_version"] = [SNAPSHOT_FILES.schema_version] * n
    cols["source"] = [source.name] * n
    cols["day"] = [day] * n
    cols["snapshot_id"] = [""] * n
    files = pl.DataFrame(cols, schema=SNAPSHOT_FILES.polars_schema)
    snapshot_id = snapshot_id_from_files(source.kind, files)
    files = files.with_columns(pl.lit(snapshot_id).alias("snapshot_id"))

    statuses = files["status"].value_counts(sort=True)
    status_counts = dict(zip(statuses["status"].to_list(), statuses["count"].to_list(), strict=True))
    stored = status_counts.get("stored", 0)
    snapshot = pl.DataFrame(
        {
            "schema_name": [SNAPSHOTS.schema_name],
            "schema_version": [SNAPSHOTS.schema_version],
            "source": [source.name],
            "day": [day],
            "snapshot_id": [snapshot_id],
            "source_kind": [source.kind],
            "as_of": [as_of],
            "file_count": [n],
            "total_bytes": [int(files.filter(pl.col("status") == "stored")["size"].sum() or 0)],
            "stored_count": [stored],
            "rejected_count": [n - stored],
            "taken_at": [taken_at],
        },
        schema=SNAPSHOTS.polars_schema,
    )
    return SnapshotResult(snapshot, files, written, reused, status_counts)


def take_snapshot(
    source: SourceConfig,
    day: dt.date,
    store: ObjectStore | None,
    today: dt.date | None = None,
    taken_at: dt.datetime | None = None,
    on_read: Callable[[int], object] | None = None,
) -> SnapshotResult:
    """Read the source for ``day`` and build both frames (storing bytes if ``store``).

    ``on_read`` gets the number of files read whole (status ``stored``) once the source is read, before
    they are hashed and stored: the first moment their count is known (the asset starts the evidence
    step's pool then).
    """
    today = today or utc_today()
    entries, as_of = read_entries(source, day, today)
    if on_read is not None:
        on_read(sum(e.status == "stored" for e in entries))
    return build_snapshot(source, day, entries, as_of, taken_at or dt.datetime.now(dt.UTC), store)
