"""drift/reports: an append-only ledger of drift evaluations, one batch per Dagster run."""

import datetime as dt

import dagster as dg

from assets.context import current_partition, utc_now
from assets.partitions import lake_partitions
from core.contracts import DISTILL_SCORES, DRIFT_REPORTS, EVIDENCE_RECORDS, INDEX_TERMS, REPLAY_RUNS
from core.drift_report import evaluate_partition, markdown_table, plot_png, png_markdown
from resources.lake import LakeResource


class DriftConfig(dg.Config):
    """baseline_day pins the baseline (YYYY-MM-DD); by default it is the previous day with scores."""

    baseline_day: str | None = None


@dg.asset(key=DRIFT_REPORTS.asset_key, description=DRIFT_REPORTS.description, partitions_def=lake_partitions,
          group_name="drift", kinds={"polars", "deltalake"},
          deps=[dg.AssetKey(c.asset_key) for c in (DISTILL_SCORES, REPLAY_RUNS, INDEX_TERMS, EVIDENCE_RECORDS)])
def drift_reports(context: dg.AssetExecutionContext, config: DriftConfig, lake: LakeResource):
    """Every drift metric of the partition against its baseline, with a table and a plot for the UI."""
    source, day = current_partition(context)
    try:
        pinned = dt.date.fromisoformat(config.baseline_day) if config.baseline_day else None
    except ValueError as exc:
        raise dg.Failure(f"baseline_day {config.baseline_day!r} is not a date (YYYY-MM-DD)") from exc
    report, info = evaluate_partition(lake.root_uri, source, day, context.run.run_id, utc_now(), pinned,
                                      lake.storage_options)
    if report.height == 0:
        context.log.info(f"no drift evaluation for {source} {day}: {info.get('reason', 'no comparable data')}")
        return dg.Output(report, metadata={"baseline_day": str(info["baseline_day"]), "metrics": 0})
    statuses = dict(sorted(report.group_by("status").len().iter_rows()))
    png = plot_png(info["plot_data"], f"{source} {day} vs {info['baseline_day']}")
    context.log.info(f"drift {source} {day} vs {info['baseline_day']}: {statuses}")
    return dg.Output(report, metadata={
        "baseline_day": info["baseline_day"],
        "statuses": dg.MetadataValue.json(statuses),
        "report": dg.MetadataValue.md(markdown_table(report)),
        "plot": dg.MetadataValue.md(png_markdown(png)),
    })
