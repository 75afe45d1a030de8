"""drift/reports: an append-only ledger of drift evaluations, one batch per Dagster run."""

import dagster as dg

from assets.context import current_partition, utc_now
from assets.partitions import lake_partitions
from core.contracts import DISTILL_SCORES, DRIFT_REPORTS, EVIDENCE_RECORDS, INDEX_TERMS, REPLAY_RUNS
from core.drift_baseline import BaselineError, BaselineSpec, parse_baseline
from core.drift_report import evaluate_partition, markdown_table, plot_png, png_markdown
from core.sources import SourceConfigError
from resources.lake import LakeResource
from resources.sources import SourcesResource


class DriftConfig(dg.Config):
    """``baseline`` overrides the source's ``drift_baseline`` in sources.toml (default: ``reference:3``).

    Forms: ``reference[:N]`` (the first N days with data), ``change`` (the previous day with data),
    ``YYYY-MM-DD`` or ``YYYY-MM-DD..YYYY-MM-DD`` (a pinned day or window).
    """

    baseline: str | None = None


def _spec(config: DriftConfig, sources: SourcesResource, source: str) -> BaselineSpec:
    text = config.baseline
    if text is None:
        try:
            declared = sources.load().get(source)
        except SourceConfigError:
            declared = None  # the registry's own problem is reported by the assets that need it
        text = declared.drift_baseline if declared else None
    try:
        return parse_baseline(text)
    except BaselineError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc


@dg.asset(key=DRIFT_REPORTS.asset_key, description=DRIFT_REPORTS.description, partitions_def=lake_partitions,
          group_name="drift", kinds={"polars", "deltalake"},
          deps=[dg.AssetKey(c.asset_key) for c in (DISTILL_SCORES, REPLAY_RUNS, INDEX_TERMS, EVIDENCE_RECORDS)])
def drift_reports(context: dg.AssetExecutionContext, config: DriftConfig, lake: LakeResource,
                  sources: SourcesResource):
    """Every drift metric of the partition against its baseline, with a table and a plot for the UI."""
    source, day = current_partition(context)
    spec = _spec(config, sources, source)
    try:
        report, info = evaluate_partition(lake.root_uri, source, day, context.run.run_id, utc_now(), spec,
                                          lake.storage_options)
    except BaselineError as exc:
        raise dg.Failure(f"drift {source} {day}: {exc}", allow_retries=False) from exc
    against = ", ".join(info["baseline_days"]) or "nothing"
    if report.height == 0:
        context.log.info(f"no drift evaluation for {source} {day}: {info.get('reason', 'no comparable data')}")
        return dg.Output(report, metadata={"baseline": spec.text(), "baseline_days": against, "metrics": 0})
    statuses = dict(sorted(report.group_by("status").len().iter_rows()))
    context.log.info(f"drift {source} {day} vs {spec.text()} ({against}): {statuses}")
    metadata = {
        "baseline": spec.text(),
        "baseline_days": against,
        "statuses": dg.MetadataValue.json(statuses),
        "report": dg.MetadataValue.md(markdown_table(report)),
    }
    if "plot_data" in info:
        png = plot_png(info["plot_data"], f"{source} {day} vs {spec.text()} ({against})")
        metadata["plot"] = dg.MetadataValue.md(png_markdown(png))
    if info.get("scorer"):
        metadata["scorer_versions"] = f"{info['scorer']['old_version']} -> {info['scorer']['new_version']}"
    return dg.Output(report, metadata=metadata)
