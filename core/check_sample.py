"""Which units a determinism check recomputes: a seeded, partition-keyed sample, or all of them.

A unit is a file, or for a stream (jsonl) line a block of ``LINE_BLOCK`` consecutive lines of its
file (``sample_unit``): a stream partition is a few files of up to millions of lines, and taking
files as units checked such a partition whole (1M kb lines: the index checks 108 s of 133).
``EVIDENCE_LAKE_CHECK_SAMPLE``: ``all`` recomputes every unit (what CI should set), a fraction in
(0, 1] recomputes that share, never fewer than ``MIN_UNITS`` (a small partition is always
checked whole). The default is 0.1. The sample is the units whose sha256 of ``source/day/unit``
is lowest, so it is the same on every machine and every rerun of a partition, and a different
set of units on each day: over days, every unit is checked.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

DEFAULT_FRACTION = 0.1
MIN_UNITS = 100
ENV = "EVIDENCE_LAKE_CHECK_SAMPLE"
LINE_BLOCK = 1_000  # consecutive lines of one stream file sampled together
BLOCK_MARK = "\x00"  # between a stream file's path and its block number: never part of a path
TASK_MARK = f"{BLOCK_MARK}task{BLOCK_MARK}"  # before a session task's id (core.distill_check): no path starts so


def task_unit(task: str) -> str:
    """The unit of the sessions of one task, which preference pairs join (core.distill_check)."""
    return TASK_MARK + task


class CheckSampleError(ValueError):
    """A setting that is neither ``all`` nor a fraction in (0, 1]."""


def block_unit(path: str, block: int) -> str:
    """The unit of lines ``block * LINE_BLOCK`` to ``(block + 1) * LINE_BLOCK - 1`` of a stream file."""
    return f"{path}{BLOCK_MARK}{block}"


def sample_unit() -> pl.Expr:
    """An evidence or reject row's unit: its path, or for a stream line its path and line block."""
    offset = pl.col("line_offset")
    return pl.when(offset.is_null()).then(pl.col("path")).otherwise(
        pl.concat_str(pl.col("path"), pl.lit(BLOCK_MARK), (offset // LINE_BLOCK).cast(pl.Utf8))).alias("unit")


@dataclass(frozen=True)
class Sample:
    units: frozenset[str]
    total: int
    setting: str

    @property
    def whole(self) -> bool:
        return len(self.units) == self.total

    def blocks(self) -> dict[str, frozenset[int]]:
        """The sampled line blocks of each stream file ({path: block numbers})."""
        found: dict[str, set[int]] = {}
        for unit in self.units:
            if BLOCK_MARK in unit and not unit.startswith(TASK_MARK):
                path, _, block = unit.rpartition(BLOCK_MARK)
                found.setdefault(path, set()).add(int(block))
        return {path: frozenset(blocks) for path, blocks in found.items()}

    def files(self) -> frozenset[str]:
        """The paths with a sampled unit: a whole file, or some of a stream file's lines."""
        return frozenset(unit.rpartition(BLOCK_MARK)[0] if BLOCK_MARK in unit else unit for unit in self.units
                         if not unit.startswith(TASK_MARK))

    def rows(self, unit: pl.Expr | pl.Series | None = None) -> pl.Expr | pl.Series:
        """True for the rows of the sampled units (``unit``: the rows' units, by default ``sample_unit()``)."""
        return (sample_unit() if unit is None else unit).is_in(sorted(self.units))

    def describe(self) -> str:
        kinds = {"task" if u.startswith(TASK_MARK) else "block" if BLOCK_MARK in u else "file" for u in self.units}
        noun = "files" if kinds <= {"file"} else "units ({})".format(", ".join(
            name for kind, name in (("file", "files"), ("block", f"blocks of {LINE_BLOCK:,} stream lines"),
                                    ("task", "session tasks")) if kind in kinds))
        return f"all {self.total} {noun}" if self.whole else \
            f"{len(self.units)} of {self.total} {noun} (seeded by partition; {ENV}={self.setting})"


def fraction_setting() -> float | None:
    """The configured fraction; None for ``all``."""
    raw = os.environ.get(ENV, str(DEFAULT_FRACTION)).strip().lower()
    if raw == "all":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise CheckSampleError(f"{ENV}={raw!r}: use 'all' or a fraction in (0, 1], e.g. 0.1")
    return None if value == 1 else value


def file_units(files: pl.DataFrame) -> list[str]:
    """The units of a raw/snapshot_files partition: each file, or each line block of a stream file."""
    lines = files.select("path", pl.col("line_offsets").alias("line_offset")).explode("line_offset")
    return lines.select(sample_unit())["unit"].unique().to_list()


def sample_units(units: Iterable[str], source: str, day: str) -> Sample:
    """The units (paths, ``sample_unit`` values) to recompute for partition (source, day), under the setting."""
    unique = sorted(set(units))
    fraction = fraction_setting()
    setting = "all" if fraction is None else str(fraction)
    wanted = len(unique) if fraction is None else max(MIN_UNITS, math.ceil(fraction * len(unique)))
    if wanted >= len(unique):
        return Sample(frozenset(unique), len(unique), setting)
    keyed = sorted(unique, key=lambda p: hashlib.sha256(f"{source}/{day}/{p}".encode()).digest())
    return Sample(frozenset(keyed[:wanted]), len(unique), setting)
