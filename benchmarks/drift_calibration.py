"""False-alarm and detection rates of drift under the default baseline (reference:3), on generated kb weeks.

Calm weeks: every day-metric at ``drift`` is a false alarm. Drifted weeks (``--drift-from 4``):
every score_distribution and category_mix day-metric from the drift on should be at ``drift``.
The pipeline's own core functions run (snapshot, evidence, scores, index terms), without Dagster.

    .venv/bin/python -m benchmarks.drift_calibration [--seeds 5] [--days 10] [--per-day 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.common import ROOT  # noqa: F401  (puts the project on sys.path)

DETECTED = ("score_distribution", "category_mix")
DRIFT_FROM = 4


def week(folder: Path, seed: int, days: int, per_day: int, drift_from: int | None) -> list:
    """PartitionData per generated day."""
    import polars as pl

    from core.corpus import DEFAULT_START, generate, write_corpus
    from core.distill import build_scores
    from core.drift import gather
    from core.evidence import build_evidence
    from core.indexing import build_indexes
    from core.objects import ObjectStore
    from core.scoring import SCORER_VERSION
    from core.snapshot import take_snapshot
    from core.sources import SourceConfig

    corpus = generate(days, per_day, seed=seed, drift_from=drift_from)
    write_corpus(corpus, folder / "kb")
    store = ObjectStore(str(folder / "lake"))
    out = []
    for i in range(days):
        day = DEFAULT_START + dt.timedelta(days=i)
        snap = take_snapshot(SourceConfig("kb", "jsonl", folder / "kb"), day, store, today=day)
        ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
        scores = build_scores(ev.records, "kb", day)
        terms = build_indexes(ev.records, "kb", day).tables["index/terms"]
        out.append(gather(scores, ev.records, terms, pl.DataFrame(), SCORER_VERSION))
    return out


def statuses(data: list, spec_text: str) -> list[dict[str, str]]:
    """Per day, metric -> status under the baseline spec (days without a baseline give {})."""
    from core.drift import evaluate, pool
    from core.drift_baseline import choose_baseline, parse_baseline

    spec = parse_baseline(spec_text)
    days = list(range(len(data)))
    out = []
    for i in days:
        chosen = choose_baseline(spec, days, i).days  # day indexes work as well as dates here
        if not chosen:
            out.append({})
            continue
        rows = evaluate(pool([data[d] for d in chosen]), data[i])
        out.append({r["metric"]: r["status"] for r in rows})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=200)
    parser.add_argument("--baseline", default="reference:3")
    args = parser.parse_args(argv)
    calm_total, calm_drift, calm_warn = 0, 0, 0
    hit, drifted_total = 0, 0
    false_by_metric: Counter = Counter()
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            calm = statuses(week(Path(tmp) / f"calm{seed}", seed, args.days, args.per_day, None), args.baseline)
            for day in calm:
                for metric, status in day.items():
                    calm_total += 1
                    calm_drift += status == "drift"
                    calm_warn += status == "warn"
                    if status == "drift":
                        false_by_metric[metric] += 1
            drift = statuses(week(Path(tmp) / f"drift{seed}", seed, args.days, args.per_day, DRIFT_FROM),
                             args.baseline)
            for i, day in enumerate(drift[DRIFT_FROM:], start=DRIFT_FROM):
                for metric in DETECTED:
                    if metric in day:
                        drifted_total += 1
                        hit += day[metric] == "drift"
                        if day[metric] != "drift":
                            missed.append(f"seed {seed} day {i} {metric}: {day[metric]}")
            print(f"seed {seed}: calm drift {sum(s == 'drift' for d in calm for s in d.values())}, "
                  f"detected {sum(d.get(m) == 'drift' for d in drift[DRIFT_FROM:] for m in DETECTED)}"
                  f"/{sum(m in d for d in drift[DRIFT_FROM:] for m in DETECTED)}", file=sys.stderr)
    print(f"\n== drift calibration: baseline {args.baseline}, {args.seeds} seeds x {args.days} days, "
          f"{args.per_day} sessions a day, Holm-adjusted p-values")
    print(f"false alarms : {calm_drift}/{calm_total} calm day-metrics at drift = {calm_drift / calm_total:.2%} "
          f"(target <= 1%); at warn: {calm_warn / calm_total:.2%}; by metric: {dict(false_by_metric)}")
    print(f"detection    : {hit}/{drifted_total} drifted score/category day-metrics at drift = "
          f"{hit / drifted_total:.2%} (target >= 95%)")
    for line in missed[:10]:
        print(f"  missed: {line}")
    return 0 if calm_drift / calm_total <= 0.01 and hit / drifted_total >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())
