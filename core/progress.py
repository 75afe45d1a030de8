"""Progress of long work, as a few readable log lines: how far, how fast, about how long is left.

A kb day of a million lines spends minutes in its evidence and index steps; without a word in
between, a step's log in the Dagster UI looks hung. Core loops call ``advance`` as work
completes; a message goes out at most every ``EVIDENCE_LAKE_PROGRESS_SECONDS`` (default 10 s),
so short steps log nothing extra. Messages never reach a table: rows stay byte-identical.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

PROGRESS_ENV = "EVIDENCE_LAKE_PROGRESS_SECONDS"
DEFAULT_EVERY_S = 10.0


def progress_interval() -> float:
    """Seconds between two progress messages of one loop (``EVIDENCE_LAKE_PROGRESS_SECONDS``, default 10)."""
    raw = os.environ.get(PROGRESS_ENV, "").strip()
    if not raw:
        return DEFAULT_EVERY_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):  # NaN fails the first test
        raise ValueError(f"{PROGRESS_ENV}={raw!r}: use a number of seconds between progress messages "
                         f"(0 logs every step of the work; unset means {DEFAULT_EVERY_S:g})")
    return value


class Progress:
    """Counts ``unit``s of ``total`` done under ``what`` and reports through ``report`` now and then.

    Without ``report`` it counts and says nothing (the setting is not read): a caller needs no branch.
    ``clock`` is injectable for tests; it must be monotonic.
    """

    def __init__(self, what: str, total: int, unit: str, report: Callable[[str], None] | None,
                 every_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.report = report or _silent
        self.every_s = float("inf") if report is None else progress_interval() if every_s is None else every_s
        self.clock = clock
        self.done = 0
        self.started = self.last = clock()

    def advance(self, n: int = 1) -> None:
        """``n`` more units done; a message when the interval has passed since the last one (or the start)."""
        self.done += n
        now = self.clock()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            self.report(self.message(now))

    def note(self, text: str) -> None:
        """``text`` (the phase that follows, e.g. a sort) when the interval has passed since the last message."""
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            self.report(text)

    def message(self, now: float | None = None) -> str:
        """``extracted 400,000 of 1,000,000 lines (40%), 52,300 lines/s, about 11 s left`` (``what`` = extracted).

        No partition in it: the run and the step that log it say which.
        """
        now = self.clock() if now is None else now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.what} {self.done:,} of {self.total:,} {self.unit}"
        if self.total:
            text += f" ({min(self.done / self.total, 1.0):.0%})"
        text += f", {rate:,.0f} {self.unit}/s"
        if rate > 0 and self.total > self.done:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text


def _silent(message: str) -> None:
    """Where the messages of a Progress without a reader go."""


def _duration(seconds: float) -> str:
    """12 s, 3 min 5 s, 1 h 2 min: what a reader takes in at a glance."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"
