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
from core.drift import PartitionData, evaluate, gather, pool
from core.drift_baseline import BaselineSpec, choose_baseline
from core.drift_scorer import scorer_drift
from core.history import newest_commits
from core.lake import Partition, list_partitions, open_table, read_partitions
from core.scoring import SCORER_VERSION

READ = (DISTILL_SCORES, EVIDENCE_RECORDS, INDEX_TERMS, REPLAY_RUNS)


def partition_data(root: str, partition: Partition, storage_options=None):
    frames = {c.table_id: read_partitions(root, c, [partition], storage_options) for c in READ}
    return gather(frames["distill/scores"], frames["evidence/records"], frames["index/terms"],
                  frames["replay/runs"], SCORER_VERSION), frames


def plot_inputs(reference: PartitionData, current: PartitionData) -> dict:
    """What plot_png draws: both sides' scores and category counts."""
    return {"baseline_scores": reference.scores, "current_scores": current.scores,
            "baseline_categories": reference.categories, "current_categories": current.categories}


def plot_data(root: str, source: str, day: dt.date, baseline_days: list[dt.date], storage_options=None) -> dict:
    """plot_png's input for a report that compared ``day`` with ``baseline_days``."""
    current, _ = partition_data(root, (source, day), storage_options)
    return plot_inputs(pool([partition_data(root, (source, d), storage_options)[0] for d in baseline_days]), current)


def versions_read(root: str, partitions: list[Partition], storage_options=None) -> dict:
    """Each table's version, and the commit that last wrote each partition read (a rewritten day shows)."""
    tables: dict[str, int | None] = {}
    written: dict[str, dict[str, int]] = {}
    for contract in READ:
        table = open_table(root, contract, storage_options)
        tables[contract.table_id] = table.version() if table else None
        if table is None:
            continue
        newest, _ = newest_commits(table)
        for part in partitions:
            if part in newest:
                written.setdefault(f"{part[0]}/{part[1]}", {})[contract.table_id] = newest[part].version
    return {"tables": tables, "partitions": written}


def drift_history(root: str, source: str, day: dt.date, mode: str, storage_options=None) -> list[tuple]:
    """(day, metric, status) of the newest earlier evaluation per day in ``mode``, newest day first."""
    days = sorted((d for s, d in list_partitions(root, DRIFT_REPORTS, storage_options) if s == source and d < day),
                  reverse=True)
    if not days:
        return []
    reports = read_partitions(root, DRIFT_REPORTS, [(source, d) for d in days], storage_options)
    reports = reports.filter(pl.col("baseline_mode") == mode)
    if reports.height == 0:
        return []
    newest = newest_evaluations(reports).select("day", "metric", "status", "drift_since")
    return newest.sort("day", descending=True).rows()


def drift_since(metric: str, status: str, day: dt.date, history: list[tuple]) -> dt.date | None:
    """First day of the current drift episode of ``metric``: ``day`` itself or the start of the run before it."""
    if status != "drift":
        return None
    earlier = {d: (st, since) for d, m, st, since in history if m == metric}
    previous = max(earlier, default=None)
    if previous is None or earlier[previous][0] != "drift":
        return day
    return earlier[previous][1] or previous


def evaluate_partition(root: str, source: str, day: dt.date, evaluation_id: str, evaluated_at: dt.datetime,
                       spec: BaselineSpec | None = None, storage_options=None) -> tuple[pl.DataFrame, dict]:
    """Report rows for (source, day) against its baseline (and scorer drift); empty when there is nothing to compare.

    Raises BaselineError when a pinned baseline cannot be used for this day.
    """
    spec = spec or BaselineSpec()
    days = sorted({d for s, d in list_partitions(root, DISTILL_SCORES, storage_options) if s == source})
    baseline = choose_baseline(spec, days, day)
    info: dict = {"baseline_mode": spec.mode, "baseline_spec": spec.text(),
                  "baseline_days": [d.isoformat() for d in baseline.days],
                  "baseline_day": baseline.days[0].isoformat() if baseline.days else None}
    current, cur_frames = partition_data(root, (source, day), storage_options)
    rows: list[dict] = []
    if baseline.days:
        reference = pool([partition_data(root, (source, d), storage_options)[0] for d in baseline.days])
        rows = evaluate(reference, current)
        info["plot_data"] = plot_inputs(reference, current)
    scorer_rows, info["scorer"] = scorer_drift(cur_frames["distill/scores"])
    if not rows and not scorer_rows:
        info["reason"] = baseline.reason or "no metric has data on both sides"
        return DRIFT_REPORTS.empty(), info
    versions = json.dumps(versions_read(root, [(source, d) for d in (*baseline.days, day)], storage_options),
                          sort_keys=True)
    history = drift_history(root, source, day, spec.mode, storage_options)
    for row in rows:
        row.update(baseline_mode=spec.mode, baseline_days=list(baseline.days), baseline_day=baseline.days[0],
                   drift_since=drift_since(row["metric"], row["status"], day, history))
    scorer_history = drift_history(root, source, day, "scorer_version", storage_options) if scorer_rows else []
    for row in scorer_rows:
        row.update(baseline_mode="scorer_version", baseline_days=[day], baseline_day=day,
                   drift_since=drift_since(row["metric"], row["status"], day, scorer_history))
    every = rows + scorer_rows
    schema = DRIFT_REPORTS.polars_schema
    df = pl.DataFrame(every, schema={k: schema[k] for k in every[0]})
    return DRIFT_REPORTS.stamp(df, source, day, evaluation_id=evaluation_id, baseline_source=source,
                               baseline_versions=versions, evaluated_at=evaluated_at), info


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


def newest_evaluations(reports: pl.DataFrame) -> pl.DataFrame:
    """The newest evaluation of each day (re-evaluations of a day supersede earlier ones)."""
    if reports.height == 0:
        return reports
    newest = reports.group_by("day").agg(pl.col("evaluated_at").max().alias("_newest"))
    return reports.join(newest, on="day").filter(pl.col("evaluated_at") == pl.col("_newest")).drop("_newest")


def over_time_png(reports: pl.DataFrame, title: str) -> bytes:
    """One panel per metric: its value day by day, each point coloured by status, thresholds dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted(set(reports["metric"].to_list()))
    cols = 2
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), dpi=100, squeeze=False)
    colour = {"ok": "#1b9e77", "warn": "#e6ab02", "drift": "#d95f02"}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = reports.filter(pl.col("metric") == metric).sort("day")
        days, values = part["day"].to_list(), part["value"].to_list()
        ax.plot(days, values, color="#999999", linewidth=1)
        ax.scatter(days, values, c=[colour[x] for x in part["status"].to_list()], zorder=3)
        effect = json.loads(part["threshold"][0]).get("effect") if part.height else None
        if isinstance(effect, list) and part["statistic"][0] != "chi_square":
            for level, style in zip(effect, (":", "--"), strict=True):
                ax.axhline(level, color="#666666", linestyle=style, linewidth=0.8)
        ax.set_title(f"{metric} ({part['statistic'][0]})", fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=30)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{title}   (green ok, yellow warn, orange drift; dotted warn and dashed drift thresholds)",
                 fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def png_markdown(png: bytes) -> str:
    return f"![drift plot](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
