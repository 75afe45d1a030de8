"""Source registry: what ``sources.toml`` declares, validated once with clear errors.

Each error names the file and the source so the user knows exactly what to edit.
Relative source paths resolve against the folder of the TOML file, not the working
directory, so the same file works from any shell.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.project import sources_path

KINDS = ("git", "tree", "jsonl")
DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_STREAM_BYTES = 1024 * 1024 * 1024  # jsonl: one stream file may hold months of events
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SourceConfigError(ValueError):
    """sources.toml is unreadable or declares something we cannot use."""


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    path: Path
    ref: str = "HEAD"  # git: the ref whose history is snapshotted
    event_time_field: str = "ts"  # jsonl: field holding the event time
    max_file_bytes: int | None = None  # None: 1 GiB for jsonl streams, 8 MiB for files
    drift_baseline: str | None = None  # core.drift_baseline grammar; None: the reference window

    def __post_init__(self) -> None:
        if self.max_file_bytes is None:
            default = DEFAULT_MAX_STREAM_BYTES if self.kind == "jsonl" else DEFAULT_MAX_FILE_BYTES
            object.__setattr__(self, "max_file_bytes", default)


def _fail(file: Path, source: str | None, message: str) -> SourceConfigError:
    where = f"{file}" if source is None else f"{file}, source '{source}'"
    return SourceConfigError(f"{where}: {message}")


def load_sources(file: Path | None = None) -> dict[str, SourceConfig]:
    """Read and validate the registry; raise SourceConfigError with file and source named."""
    file = Path(file) if file is not None else sources_path()
    try:
        raw_bytes = file.read_bytes()
    except FileNotFoundError as exc:
        raise _fail(file, None, "file not found (set EVIDENCE_LAKE_SOURCES or create it)") from exc
    except OSError as exc:
        raise _fail(file, None, f"cannot read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _fail(file, None, "not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib reports a duplicate [sources.x] table as a syntax error; say so plainly.
        raise _fail(file, None, f"TOML syntax error: {exc} (a source declared twice is reported here too)") from exc
    table = data.get("sources")
    if not isinstance(table, dict) or not table:
        raise _fail(file, None, "no [sources.<name>] tables declared")
    base = file.parent
    out: dict[str, SourceConfig] = {}
    seen_keys: dict[str, str] = {}
    for name, spec in table.items():
        out[name] = _parse_source(file, base, name, spec)
        folded = name.casefold()
        if folded in seen_keys:
            raise _fail(file, name, f"duplicate source name (same as '{seen_keys[folded]}' ignoring case)")
        seen_keys[folded] = name
    return dict(sorted(out.items()))


def _parse_source(file: Path, base: Path, name: str, spec: object) -> SourceConfig:
    if not _NAME_RE.match(name):
        raise _fail(file, name, "name must be 1-64 of letters, digits, '_', '.', '-' (it is a partition key)")
    if not isinstance(spec, dict):
        raise _fail(file, name, "must be a table with at least 'kind' and 'path'")
    known = {"kind", "path", "ref", "event_time_field", "max_file_bytes", "drift_baseline"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise _fail(file, name, f"unknown keys {unknown}; allowed: {sorted(known)}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise _fail(file, name, f"unknown kind {kind!r}; use one of {list(KINDS)}")
    raw_path = spec.get("path")
    if not isinstance(raw_path, str) or not raw_path:
        raise _fail(file, name, "'path' must be a non-empty string")
    path = (base / raw_path).resolve()
    if not path.exists():
        raise _fail(file, name, f"path does not exist: {path}")
    if not path.is_dir():
        raise _fail(file, name, f"path is not a directory: {path}")
    max_bytes = spec.get("max_file_bytes")
    if max_bytes is not None and (not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0):
        raise _fail(file, name, "'max_file_bytes' must be a non-negative integer")
    ref = spec.get("ref", "HEAD")
    field_name = spec.get("event_time_field", "ts")
    if not isinstance(ref, str) or not ref or not isinstance(field_name, str) or not field_name:
        raise _fail(file, name, "'ref' and 'event_time_field' must be non-empty strings")
    drift = spec.get("drift_baseline")
    if drift is not None:
        from core.drift_baseline import BaselineError, parse_baseline

        try:
            parse_baseline(drift if isinstance(drift, str) else repr(drift))
        except BaselineError as exc:
            raise _fail(file, name, f"'drift_baseline': {exc}") from exc
    return SourceConfig(name=name, kind=kind, path=path, ref=ref, event_time_field=field_name, max_file_bytes=max_bytes,
                        drift_baseline=drift)
