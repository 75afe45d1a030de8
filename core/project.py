"""Where the project lives and where its defaults resolve (no Dagster import)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START_DATE = "2020-01-01"


def lake_root() -> str:
    """``$EVIDENCE_LAKE_ROOT`` (a path or an object-store URI) or ``<project>/data/lake``."""
    raw = os.environ.get("EVIDENCE_LAKE_ROOT")
    if not raw:
        return str(PROJECT_ROOT / "data" / "lake")
    if "://" in raw and not raw.startswith("file://"):
        return raw.rstrip("/")
    return str(Path(raw.removeprefix("file://")).resolve())


def sources_path() -> Path:
    """``$EVIDENCE_LAKE_SOURCES`` (relative to the working directory) or ``<project>/sources.toml``."""
    raw = os.environ.get("EVIDENCE_LAKE_SOURCES")
    return Path(raw).resolve() if raw else PROJECT_ROOT / "sources.toml"


def start_date() -> str:
    """First day of the daily partitions; validated so a typo fails at load with a clear message."""
    raw = os.environ.get("EVIDENCE_LAKE_START_DATE", DEFAULT_START_DATE)
    try:
        dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"EVIDENCE_LAKE_START_DATE={raw!r} is not a date (YYYY-MM-DD)") from exc
    return raw


def eval_ratio() -> float:
    """Share of examples in the eval split (``$EVIDENCE_LAKE_EVAL_RATIO``, default 0.1)."""
    raw = os.environ.get("EVIDENCE_LAKE_EVAL_RATIO", "0.1")
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"EVIDENCE_LAKE_EVAL_RATIO={raw!r} is not a number") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"EVIDENCE_LAKE_EVAL_RATIO={raw!r} must be within [0, 1]")
    return value
