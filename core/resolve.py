"""Resolve a reference (symbol, section or path) to where its bytes are, at one partition.

References:

    @SOURCE/qualified.name[#n]   a symbol of index/symbols (a clash is numbered #2, #3 …)
    <section id>                 a section of index/sections: the 64-hex id, or a unique prefix of >= 8
    SOURCE:path/in/tree          a stored file of raw/snapshot_files (or a bare path with --source)

The partition is (source, day); without a day the source's newest materialised day is used,
so ``resolve`` of a past day reads that day's snapshot and gives the same answer for ever.
The span's bytes come from the objects store, verified by sha256 on read.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from dataclasses import dataclass

import polars as pl

from core.contracts import INDEX_SECTIONS, INDEX_SYMBOLS, SNAPSHOT_FILES, SNAPSHOTS
from core.lake import list_partitions, read_partitions
from core.objects import ObjectCorruptError, ObjectMissingError, ObjectStore

_SECTION = re.compile(r"[0-9a-f]{8,64}")
TEXT_CACHE_OBJECTS = 256  # decoded files kept per resolver (first in, first out)


class ResolveError(LookupError):
    """A reference that does not name exactly one stored span; the message says what would."""


@dataclass(frozen=True)
class Resolved:
    ref: str
    kind: str  # symbol, section or path
    source: str
    day: dt.date
    path: str
    line_start: int  # 0-based
    line_end: int  # end exclusive
    object: str  # sha256 of the whole file in the objects store
    is_text: bool
    name: str  # symbol id, section heading or the path

    def where(self) -> str:
        return f"{self.path} lines[{self.line_start}:{self.line_end}]"


class Resolver:
    """Resolves references against the tables of one lake; each partition's tables are read once."""

    def __init__(self, root: str, storage_options: dict[str, str] | None = None) -> None:
        self.root, self.options = root, storage_options
        self.objects = ObjectStore(root, storage_options)
        self._tables: dict[tuple, pl.DataFrame] = {}
        self._days: dict[str, list[dt.date]] | None = None
        self._texts: dict[str, list[str]] = {}  # object -> lines; a replay batch expands the same files often
        self._refs: dict[tuple[str, dt.date], dict[str, str]] = {}
        self._by: dict[tuple, dict[str, int]] = {}  # (table, column, partition) -> value -> row number

    def _table(self, contract, source: str, day: dt.date) -> pl.DataFrame:
        key = (contract.table_id, source, day)
        if key not in self._tables:
            self._tables[key] = read_partitions(self.root, contract, [(source, day)], self.options)
        return self._tables[key]

    def _row(self, contract, column: str, value: str, source: str, day: dt.date) -> dict | None:
        """The row of a partition's table whose ``column`` is ``value`` (a dict per table: replay resolves
        hundreds of references per batch, and a filter over a large table each time was 1.5 ms)."""
        key = (contract.table_id, column, source, day)
        table = self._table(contract, source, day)
        if key not in self._by:
            self._by[key] = {v: i for i, v in enumerate(table[column].to_list())}
        i = self._by[key].get(value)
        return None if i is None else table.row(i, named=True)

    def days(self, source: str) -> list[dt.date]:
        if self._days is None:
            self._days = {}
            for s, d in list_partitions(self.root, SNAPSHOTS, self.options):
                self._days.setdefault(s, []).append(d)
        return self._days.get(source, [])

    def sources(self) -> list[str]:
        """Sources with a materialised partition (the same cached listing as ``days``)."""
        self.days("")
        return sorted(self._days or {})

    def partition(self, source: str, day: dt.date | None) -> tuple[str, dt.date]:
        """(source, day), the day defaulting to the newest materialised one; a clear error otherwise."""
        if day is not None and self._table(SNAPSHOT_FILES, source, day).height:
            return source, day  # a snapshot with files: no need to list every partition of the lake
        days = self.days(source)
        if not days:
            known = sorted(self._days or {})
            raise ResolveError(f"source {source!r} has no materialised partition in {self.root}"
                               + (f"; sources with data: {', '.join(known)}" if known else "; run `evidence-lake run`"))
        if day is None:
            return source, max(days)
        if day not in days:
            raise ResolveError(f"{source} has no partition for {day}; materialised days: "
                               f"{', '.join(str(d) for d in sorted(days)[-5:])}"
                               + (" (newest five)" if len(days) > 5 else ""))
        return source, day

    def partition_for(self, ref: str, source: str | None = None, day: dt.date | None = None
                      ) -> tuple[str, dt.date] | None:
        """The partition a reference points into (its source's), when that much is known; else None."""
        ref = ref.strip()
        if ref.startswith("@") and "/" in ref:
            source = ref[1:].partition("/")[0]
        elif ":" in ref and not ref.startswith("/"):
            source = ref.partition(":")[0]
        if not source:
            return None
        try:
            return self.partition(source, day)
        except ResolveError:
            return None

    def resolve(self, ref: str, source: str | None = None, day: dt.date | None = None) -> Resolved:
        ref = ref.strip()
        if not ref:
            raise ResolveError("an empty reference: give @SOURCE/qualified.name, a section id or SOURCE:path")
        if ref.startswith("@"):
            return self._symbol(ref, day)
        if ":" in ref and not ref.startswith("/"):
            named, _, path = ref.partition(":")
            return self._path(ref, named, path, day)
        if _SECTION.fullmatch(ref):
            return self._section(ref, source, day)
        if source is None:
            raise ResolveError(f"{ref!r}: a path needs its source (SOURCE:{ref} or --source); symbols are "
                               "@SOURCE/qualified.name")
        return self._path(ref, source, ref, day)

    def _symbol(self, ref: str, day: dt.date | None) -> Resolved:
        source, slash, _ = ref[1:].partition("/")
        if not slash or not source:
            raise ResolveError(f"{ref!r} is not a symbol id: symbols read @SOURCE/qualified.name[#n]")
        source, day = self.partition(source, day)
        row = self._row(INDEX_SYMBOLS, "symbol_id", ref, source, day)
        if row is None:
            raise ResolveError(f"no symbol {ref} in {source}/{day}" + _suggest(ref, self._table(INDEX_SYMBOLS,
                                                                                             source, day)))
        return self._span(ref, "symbol", source, day, row["path"], row["line"], row["line_end"], row["symbol_id"])

    def _section(self, ref: str, source: str | None, day: dt.date | None) -> Resolved:
        sources = [source] if source else self.sources()
        found = []
        for name in sources:
            partition = self.partition(name, day if source else None)
            sections = self._table(INDEX_SECTIONS, *partition)
            for row in sections.filter(pl.col("section_id").str.starts_with(ref)).iter_rows(named=True):
                found.append((partition, row))
        if not found:
            raise ResolveError(f"no section id starting {ref} in {', '.join(sources) or 'the lake'}")
        if len({row["section_id"] for _, row in found}) > 1:
            names = sorted({row["section_id"][:12] + "…  " + row["heading"] for _, row in found})
            raise ResolveError(f"section prefix {ref} is ambiguous: {'; '.join(names[:5])}; give more characters")
        (source, day), row = found[0]
        return self._span(ref, "section", source, day, row["path"], row["line_start"], row["line_end"], row["heading"])

    def _path(self, ref: str, source: str, path: str, day: dt.date | None) -> Resolved:
        source, day = self.partition(source, day)
        files = self._table(SNAPSHOT_FILES, source, day)
        hit = files.filter(pl.col("path") == path)
        if hit.height == 0:
            close = difflib.get_close_matches(path, files["path"].to_list(), n=3)
            raise ResolveError(f"no file {path!r} in {source}/{day}" + (f"; did you mean {', '.join(close)}?"
                                                                        if close else ""))
        row = hit.row(0, named=True)
        if row["status"] != "stored":
            raise ResolveError(f"{source}:{path} in {source}/{day} has status {row['status']} ({row['detail']}): "
                               "its bytes are not in the objects store")
        return Resolved(ref, "path", source, day, path, 0, int(row["line_count"] or 0), row["object"],
                        bool(row["is_text"]), path)

    def _span(self, ref, kind, source, day, path, start, end, name) -> Resolved:
        file = self._row(SNAPSHOT_FILES, "path", path, source, day)
        if file is None or file["status"] != "stored":
            raise ResolveError(f"{ref}: its file {path} is not stored in {source}/{day}")
        return Resolved(ref, kind, source, day, path, int(start), int(end), file["object"], bool(file["is_text"]),
                        name)

    def ref_for_evidence(self, source: str, day: dt.date, evidence_id: str) -> str | None:
        """The symbol id or section id whose evidence is ``evidence_id`` (None for other evidence kinds)."""
        if (source, day) not in self._refs:
            symbols = self._table(INDEX_SYMBOLS, source, day).select("evidence_id", pl.col("symbol_id").alias("ref"))
            sections = self._table(INDEX_SECTIONS, source, day).select("evidence_id",
                                                                        pl.col("section_id").alias("ref"))
            self._refs[(source, day)] = dict(pl.concat([sections, symbols]).iter_rows())
        return self._refs[(source, day)].get(evidence_id)

    def _lines(self, resolved: Resolved) -> list[str]:
        if resolved.object not in self._texts:
            try:
                data = self.objects.get(resolved.object)
            except (ObjectMissingError, ObjectCorruptError) as exc:
                raise ResolveError(f"{resolved.ref}: {exc}") from None
            if len(self._texts) >= TEXT_CACHE_OBJECTS:
                self._texts.pop(next(iter(self._texts)))
            self._texts[resolved.object] = data.decode("utf-8", errors="replace").splitlines(keepends=True)
        return self._texts[resolved.object]

    def read_text(self, resolved: Resolved) -> str:
        """The span's text, from the object verified by sha256 (a missing or corrupt object is a loud error)."""
        if not resolved.is_text:
            raise ResolveError(f"{resolved.ref}: {resolved.path} is a binary file; lines and chars slices "
                               f"apply to text (its bytes are object {resolved.object})")
        lines = self._lines(resolved)
        if resolved.kind == "path":
            return "".join(lines)
        return "".join(lines[resolved.line_start:resolved.line_end])

    def content_hash(self, resolved: Resolved) -> str:
        """sha256 of the span's UTF-8 text: the same corpus gives the same hash in every build."""
        return hashlib.sha256(self.read_text(resolved).encode()).hexdigest()


def _suggest(ref: str, symbols: pl.DataFrame) -> str:
    """'; did you mean …?' from close symbol ids and symbols whose name is the ref's last part."""
    ids = symbols["symbol_id"].to_list()
    close = difflib.get_close_matches(ref, ids, n=3, cutoff=0.6)
    tail = ref.rsplit("/", 1)[-1].split("#")[0].rsplit(".", 1)[-1]
    same_name = symbols.filter(pl.col("name") == tail)["symbol_id"].sort().to_list()[:3]
    names = list(dict.fromkeys(close + same_name))[:5]
    return f"; did you mean {', '.join(names)}?" if names else "; `evidence-lake sql` over index_symbols lists them"
