"""sources_sensor: keep the dynamic ``sources`` partitions in step with sources.toml."""

import dagster as dg

from assets.partitions import SOURCES_PARTITIONS_NAME, sources_partitions
from core.sources import SourceConfigError
from resources.sources import SourcesResource


def missing_sources(instance: dg.DagsterInstance, declared: list[str]) -> list[str]:
    known = set(instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME))
    return sorted(set(declared) - known)


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `sources` partition for every source declared in sources.toml.",
)
def sources_sensor(context: dg.SensorEvaluationContext, sources: SourcesResource):
    try:
        declared = sorted(sources.load())
    except SourceConfigError as exc:
        # The tick shows as skipped with the exact file/source error; nothing is removed.
        return dg.SkipReason(f"sources.toml is invalid, no partitions changed: {exc}")
    new = missing_sources(context.instance, declared)
    if not new:
        return dg.SkipReason(f"all {len(declared)} declared sources already have partitions")
    context.log.info(f"adding source partitions: {new}")
    return dg.SensorResult(dynamic_partitions_requests=[sources_partitions.build_add_request(new)])
