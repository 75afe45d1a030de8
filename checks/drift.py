"""Checks on drift/reports."""

import dagster as dg
import polars as pl

from assets.context import md_table
from checks.factories import PartitionReads, check_step, partition_check, schema_check
from core.contracts import DRIFT_REPORTS


@partition_check(dg.AssetKey(DRIFT_REPORTS.asset_key), "drift_within_threshold",
                 description="Warns when the newest evaluation of the partition has a metric in 'drift'.")
def drift_within_threshold(reads: PartitionReads) -> dg.AssetCheckResult:
    reports = reads.table(DRIFT_REPORTS)
    if reports.height == 0:
        return dg.AssetCheckResult(passed=True, description="no evaluation yet (no baseline)")
    newest = reports.filter(pl.col("evaluated_at") == pl.col("evaluated_at").max())
    drifted = newest.filter(pl.col("status") == "drift").select("metric", "statistic", "value", "p_value")
    return dg.AssetCheckResult(
        passed=drifted.height == 0, severity=dg.AssetCheckSeverity.WARN,
        description=f"{drifted.height} metrics drifted: {drifted['metric'].to_list()}" if drifted.height else None,
        metadata={"drifted": md_table(drifted.to_dicts()), "metrics": newest.height})


DRIFT_CHECKS = [check_step("drift_checks", [schema_check(DRIFT_REPORTS), drift_within_threshold],
                           "Schema of drift/reports; warns when the newest evaluation drifted.")]
