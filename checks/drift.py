"""Checks on drift/reports."""

import dagster as dg
import polars as pl

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from checks.factories import schema_check
from core.contracts import DRIFT_REPORTS
from resources.lake import LakeResource


@dg.asset_check(asset=dg.AssetKey(DRIFT_REPORTS.asset_key), name="drift_within_threshold",
                partitions_def=lake_partitions,
                description="Warns when the newest evaluation of the partition has a metric in 'drift'.")
def drift_within_threshold(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    partition = current_partition(context)
    reports = lake.read(DRIFT_REPORTS, [partition])
    if reports.height == 0:
        return dg.AssetCheckResult(passed=True, description="no evaluation yet (no baseline)")
    newest = reports.filter(pl.col("evaluated_at") == pl.col("evaluated_at").max())
    drifted = newest.filter(pl.col("status") == "drift").select("metric", "statistic", "value", "p_value")
    return dg.AssetCheckResult(
        passed=drifted.height == 0, severity=dg.AssetCheckSeverity.WARN,
        description=f"{drifted.height} metrics drifted: {drifted['metric'].to_list()}" if drifted.height else None,
        metadata={"drifted": md_table(drifted.to_dicts()), "metrics": newest.height})


DRIFT_CHECKS = [schema_check(DRIFT_REPORTS), drift_within_threshold]
