"""Which days a partition is compared with, as monitoring tools do it: a reference period by default.

Comparing each day with the previous one hides sustained drift: once the data has shifted, day 5
against day 4 looks calm. Evidently and NannyML compare against a reference period, and so does
the default here. Grammar of a baseline spec (``--baseline``, ``drift_baseline`` in sources.toml,
``baseline`` in the drift run config):

* ``reference`` or ``reference:N``: the first N days with data of the source (default 3). A day
  inside that window is compared with the window's earlier days (the first day has no baseline).
* ``change``: the previous day with data (day-over-day change, the old default).
* ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD``: a pinned day or window. The days with data in it
  form the baseline; a window containing the day under test, or holding no data, is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_REFERENCE_DAYS = 3
MODES = ("reference", "change", "pinned")


class BaselineError(ValueError):
    """The baseline spec cannot be used for this day; the message says what to do instead."""


@dataclass(frozen=True)
class BaselineSpec:
    mode: str = "reference"
    reference_days: int = DEFAULT_REFERENCE_DAYS
    start: dt.date | None = None  # pinned window, inclusive
    end: dt.date | None = None

    def text(self) -> str:
        if self.mode == "reference":
            return f"reference:{self.reference_days}"
        if self.mode == "change":
            return "change"
        return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Baseline:
    """The chosen days; ``days`` is empty when there is nothing earlier to compare with."""

    spec: BaselineSpec
    days: tuple[dt.date, ...]
    reason: str = ""


def parse_baseline(text: str | None) -> BaselineSpec:
    """A BaselineSpec from its text form; None or empty means the default reference window."""
    text = (text or "").strip()
    if not text or text == "reference":
        return BaselineSpec()
    if text == "change":
        return BaselineSpec(mode="change")
    if text.startswith("reference:"):
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise BaselineError(f"baseline {text!r}: write reference:N with N a whole number of days >= 1")
        return BaselineSpec(reference_days=int(count))
    first, sep, last = text.partition("..")
    try:
        start = dt.date.fromisoformat(first)
        end = dt.date.fromisoformat(last) if sep else start
    except ValueError:
        raise BaselineError(f"baseline {text!r} is not one of: reference, reference:N, change, "
                            "YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise BaselineError(f"baseline window {text!r} ends before it starts; write {end}..{start}")
    return BaselineSpec(mode="pinned", start=start, end=end)


def choose_baseline(spec: BaselineSpec, days_with_data: list[dt.date], day: dt.date) -> Baseline:
    """The baseline days for ``day`` under ``spec``; raises BaselineError for an unusable pinned window."""
    days = sorted(set(days_with_data))
    if spec.mode == "change":
        earlier = [d for d in days if d < day]
        return Baseline(spec, (earlier[-1],) if earlier else (), "" if earlier else "no earlier day with data")
    if spec.mode == "reference":
        window = days[: spec.reference_days]
        chosen = tuple(d for d in window if d < day)
        if not chosen:
            return Baseline(spec, (), "the first day with data has nothing before it to compare with")
        return Baseline(spec, chosen)
    assert spec.start is not None and spec.end is not None
    if spec.start <= day <= spec.end:
        raise BaselineError(f"the pinned baseline {spec.text()} contains the day under test ({day}); "
                            "pin a window that ends before it")
    chosen = tuple(d for d in days if spec.start <= d <= spec.end)
    if not chosen:
        near = ", ".join(str(d) for d in days[:5]) or "none"
        raise BaselineError(f"the pinned baseline {spec.text()} holds no day with data for this source "
                            f"(days with data: {near}{', …' if len(days) > 5 else ''})")
    return Baseline(spec, chosen)
