"""Check builders shared by every table, so each rule is written once."""

import dagster as dg
import pandera.errors as pa_errors

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from core.contracts import TableContract
from resources.lake import LakeResource


def schema_check(contract: TableContract) -> dg.AssetChecksDefinition:
    """``<name>_schema``: the strict pandera model over the run's partition; blocking."""

    @dg.asset_check(
        asset=dg.AssetKey(contract.asset_key),
        name=f"{contract.check_name}_schema",
        blocking=True,
        partitions_def=lake_partitions,
        description=f"Strict pandera schema of {contract.table_id} (v{contract.schema_version}).",
    )
    def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
        partition = current_partition(context)
        df = lake.read(contract, [partition])
        try:
            contract.pandera_schema().validate(df, lazy=True)
        except pa_errors.SchemaErrors as exc:
            cases = exc.failure_cases
            rows = cases.head(20).to_dicts() if hasattr(cases, "head") else []
            return dg.AssetCheckResult(
                passed=False,
                description=f"{contract.table_id} {partition[0]}/{partition[1]}: schema violations",
                metadata={"failure_cases": md_table(rows), "rows": df.height},
            )
        return dg.AssetCheckResult(passed=True, metadata={"rows": df.height, "columns": len(df.columns)})

    return _check
