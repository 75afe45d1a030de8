"""Issue 15's targets, and the scoreboard `make bench` prints after every benchmark has run.

Each benchmark prints its own figures beside its raw baseline. It also hands the figures a target is set
for to ``record``, which appends them as JSON lines to the file ``EVIDENCE_LAKE_BENCH_RESULTS`` names
(``benchmarks/run_all.py`` sets it); run alone, a benchmark records nothing. The scoreboard then says,
for each target, what was measured and whether it is met, so nobody has to collect them from six
outputs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

RESULTS_ENV = "EVIDENCE_LAKE_BENCH_RESULTS"


@dataclass(frozen=True)
class Target:
    figure: str  # the name a benchmark records the figure under
    label: str
    limit: float
    higher_is_better: bool = False
    unit: str = ""

    def met(self, value: float) -> bool:
        return value >= self.limit if self.higher_is_better else value <= self.limit

    def show(self, value: float) -> str:
        if self.unit == "%":
            return f"{value:.1%}"
        if self.unit == "x":
            return f"{value:.2f}x"
        return f"{value:,.0f} {self.unit}".rstrip()


MIB = "MiB"
TARGETS = (
    Target("stdlib_main_ratio_1x", "main job / raw loop, stdlib 1x", 1.5, unit="x"),
    Target("stdlib_main_ratio_4x", "main job / raw loop, stdlib 4x", 1.5, unit="x"),
    Target("stdlib_ingest_ratio_1x", "snapshot+evidence+index / raw loop, 1x", 1.0, unit="x"),
    Target("stdlib_ingest_ratio_4x", "snapshot+evidence+index / raw loop, 4x", 1.0, unit="x"),
    Target("stdlib_peak_mib_1x", "peak RSS, stdlib 1x", 1024, unit=MIB),
    Target("stdlib_peak_mib_4x", "peak RSS, stdlib 4x", 1024, unit=MIB),
    Target("stdlib_checks_share_1x", "checks / asset time, 1x", 0.30, unit="%"),
    Target("stdlib_checks_share_4x", "checks / asset time, 4x", 0.30, unit="%"),
    Target("kb_lines_per_s", "kb stream through the evidence asset", 150_000, higher_is_better=True, unit="lines/s"),
    Target("git_one_percent_day", "1%-changed git day / full day, end to end", 0.10, unit="%"),
    Target("bm25_p95_ms", "BM25 p95 at 1M records", 100, unit="ms"),
    Target("index_build_records_per_s", "index build at 1M records", 100_000, higher_is_better=True,
           unit="records/s"),
)


def record(figure: str, value: float, environ: dict[str, str] | None = None) -> None:
    """Append ``figure``'s measured value to the results file, when a run of every benchmark asked for one."""
    path = (os.environ if environ is None else environ).get(RESULTS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"figure": figure, "value": value}) + "\n")


def read_results(path: Path) -> dict[str, float]:
    """The recorded figures (the last value of a figure recorded twice); a malformed line is skipped."""
    found: dict[str, float] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            found[str(item["figure"])] = float(item["value"])
        except (ValueError, KeyError, TypeError):
            continue
    return found


def scoreboard(results: dict[str, float], targets: Iterable[Target] = TARGETS) -> list[tuple[str, str, str, str]]:
    """(label, measured, target, verdict) per target: ``met``, ``NOT MET`` or ``not measured``."""
    rows = []
    for target in targets:
        bound = f"{'>=' if target.higher_is_better else '<='} {target.show(target.limit)}"
        value = results.get(target.figure)
        if value is None:
            rows.append((target.label, "-", bound, "not measured"))
        else:
            rows.append((target.label, target.show(value), bound, "met" if target.met(value) else "NOT MET"))
    return rows


def print_scoreboard(path: Path) -> None:
    rows = scoreboard(read_results(path))
    label_w, measured_w, bound_w = (max(len(r[i]) for r in rows) for i in range(3))
    print(f"\n== issue 15 targets ({sum(r[3] == 'met' for r in rows)} of {len(rows)} met)")
    print(f"{'figure':<{label_w}}  {'measured':>{measured_w}}  {'target':>{bound_w}}  verdict")
    for label, measured, bound, verdict in rows:
        print(f"{label:<{label_w}}  {measured:>{measured_w}}  {bound:>{bound_w}}  {verdict}")
