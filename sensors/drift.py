"""drift_sensor: a drift evaluation for every partition whose scores or replay runs got new data."""

import dagster as dg

from core.contracts import DISTILL_SCORES, REPLAY_RUNS
from sensors.jobs import drift_job

WATCHED = (dg.AssetKey(DISTILL_SCORES.asset_key), dg.AssetKey(REPLAY_RUNS.asset_key))


def _latest_hash(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> str:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    if not records:
        return "none"
    hashed = records[0].asset_materialization.metadata.get("content_hash")
    return hashed.value if hashed is not None else str(records[0].storage_id)


@dg.sensor(job=drift_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Requests a drift evaluation when distill/scores or replay/runs of a partition change.")
def drift_sensor(context: dg.SensorEvaluationContext):
    cursor = int(context.cursor or 0)
    newest = cursor
    touched: set[str] = set()
    for key in WATCHED:
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor), limit=1000)
        for record in result.records:
            newest = max(newest, record.storage_id)
            if record.partition_key:
                touched.add(record.partition_key)
    requests = []
    for partition in sorted(touched):
        # the run key names the data evaluated: the same data is never evaluated twice
        version = ":".join(_latest_hash(context.instance, key, partition)[:16] for key in WATCHED)
        requests.append(dg.RunRequest(partition_key=partition, run_key=f"drift:{partition}:{version}"))
    context.update_cursor(str(newest))
    if not requests:
        return dg.SkipReason("no new scores or replay runs")
    return requests
