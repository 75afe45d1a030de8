"""Which files a determinism check recomputes: a seeded, partition-keyed sample, or all of them.

``EVIDENCE_LAKE_CHECK_SAMPLE``: ``all`` recomputes every file (what CI should set), a fraction in
(0, 1] recomputes that share, never fewer than ``MIN_FILES`` (a small partition is always
checked whole). The default is 0.1. The sample is the files whose sha256 of ``source/day/path``
is lowest, so it is the same on every machine and every rerun of a partition, and a different
set of files on each day: over days, every file is checked.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_FRACTION = 0.1
MIN_FILES = 100
ENV = "EVIDENCE_LAKE_CHECK_SAMPLE"


class CheckSampleError(ValueError):
    """A setting that is neither ``all`` nor a fraction in (0, 1]."""


@dataclass(frozen=True)
class Sample:
    paths: frozenset[str]
    total: int
    setting: str

    @property
    def whole(self) -> bool:
        return len(self.paths) == self.total

    def describe(self) -> str:
        return f"all {self.total} files" if self.whole else \
            f"{len(self.paths)} of {self.total} files (seeded by partition; {ENV}={self.setting})"


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


def sample_paths(paths: Iterable[str], source: str, day: str) -> Sample:
    """The files to recompute for partition (source, day), under the configured setting."""
    unique = sorted(set(paths))
    fraction = fraction_setting()
    setting = "all" if fraction is None else str(fraction)
    wanted = len(unique) if fraction is None else max(MIN_FILES, math.ceil(fraction * len(unique)))
    if wanted >= len(unique):
        return Sample(frozenset(unique), len(unique), setting)
    keyed = sorted(unique, key=lambda p: hashlib.sha256(f"{source}/{day}/{p}".encode()).digest())
    return Sample(frozenset(keyed[:wanted]), len(unique), setting)
