"""Drift evaluation of a partition from the lake, the report frame, and its plot."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import polars as pl

from core.contracts import (
    DISTILL_SCORES,
    DRIFT_REPORTS,
    EVIDENCE_RECORDS,
    INDEX_TERMS,
    REPLAY_RUNS,
)
from core.drift import baseline_day, evaluate, gather
from core.lake import Partition, list_partitions, open_table, read_partitions
from core.scoring import SCORER_VERSION

READ = (DISTILL_SCORES, EVIDENCE_RECORDS, INDEX_TERMS, REPLAY_RUNS)


def partition_data(root: str, partition: Partition, storage_options=None):
    frames = {c.table_id: read_partitions(root, c, [partition], storage_options) for c in READ}
    return gather(frames["distill/scores"], frames["evidence/records"], frames["index/terms"],
                  frames["replay/runs"], SCORER_VERSION), frames


def evaluate_partition(root: str, source: str, day: dt.date, evaluation_id: str, evaluated_at: dt.datetime,
                       pinned: dt.date | None = None, storage_options=None) -> tuple[pl.DataFrame, dict]:
    """Report rows for (source, day) against its baseline; empty when there is no baseline yet."""
    days = sorted({d for s, d in list_partitions(root, DISTILL_SCORES, storage_options) if s == source})
    base = baseline_day(days, day, pinned)
    info = {"baseline_day": base.isoformat() if base else None}
    if base is None:
        return DRIFT_REPORTS.empty(), {**info, "reason": "no earlier day with scores for this source"}
    current, cur_frames = partition_data(root, (source, day), storage_options)
    baseline, base_frames = partition_data(root, (source, base), storage_options)
    versions = {c.table_id: (t.version() if (t := open_table(root, c, storage_options)) else None) for c in READ}
    rows = evaluate(baseline, current)
    info.update(plot_data={"baseline_scores": baseline.scores, "current_scores": current.scores,
                           "baseline_categories": baseline.categories, "current_categories": current.categories})
    if not rows:
        return DRIFT_REPORTS.empty(), info
    schema = DRIFT_REPORTS.polars_schema
    df = pl.DataFrame(rows, schema={k: schema[k] for k in rows[0]})
    return DRIFT_REPORTS.stamp(df, source, day, evaluation_id=evaluation_id, baseline_source=source,
                               baseline_day=base, baseline_versions=json.dumps(versions, sort_keys=True),
                               evaluated_at=evaluated_at), info


def markdown_table(report: pl.DataFrame) -> str:
    lines = ["| metric | statistic | value | p-value | status | n (base → cur) |", "|---|---|---|---|---|---|"]
    for r in report.iter_rows(named=True):
        p = "" if r["p_value"] is None else f"{r['p_value']:.3g}"
        mark = {"ok": "ok", "warn": "⚠ warn", "drift": "🔴 drift"}[r["status"]]
        lines.append(f"| {r['metric']} | {r['statistic']} | {r['value']:.4g} | {p} | {mark} | "
                     f"{r['n_baseline']} → {r['n_current']} |")
    return "\n".join(lines)


def plot_png(plot_data: dict, title: str) -> bytes:
    """Baseline vs current score histograms and category bars, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    bins = [i / 10 for i in range(11)]
    left.hist([plot_data["baseline_scores"], plot_data["current_scores"]], bins=bins, label=["baseline", "current"],
              density=True, color=["#8da0cb", "#fc8d62"])
    left.set_title("score distribution")
    left.set_xlabel("score")
    left.legend()
    cats = sorted(set(plot_data["baseline_categories"]) | set(plot_data["current_categories"]))
    nb = sum(plot_data["baseline_categories"].values()) or 1
    nc = sum(plot_data["current_categories"].values()) or 1
    xs = range(len(cats))
    right.bar([x - 0.2 for x in xs], [plot_data["baseline_categories"].get(c, 0) / nb for c in cats], 0.4,
              label="baseline", color="#8da0cb")
    right.bar([x + 0.2 for x in xs], [plot_data["current_categories"].get(c, 0) / nc for c in cats], 0.4,
              label="current", color="#fc8d62")
    right.set_xticks(list(xs), [c.replace("_", "\n") for c in cats], fontsize=8)
    right.set_title("category mix (share)")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def png_markdown(png: bytes) -> str:
    return f"![drift plot](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
