"""sources_sensor keeps the dynamic partitions in step with sources.toml."""

import dagster as dg

from assets.partitions import SOURCES_PARTITIONS_NAME
from resources.sources import SourcesResource
from sensors.sources import sources_sensor
from tests.helpers import write_sources


def test_sensor_adds_new_sources_once(tmp_path, instance):
    (tmp_path / "d").mkdir()
    file = write_sources(
        tmp_path / "sources.toml", {"docs": {"kind": "tree", "path": "d"}, "more": {"kind": "tree", "path": "d"}}
    )
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["docs"])
    ctx = dg.build_sensor_context(instance=instance, resources={"sources": SourcesResource(file=str(file))})
    result = sources_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests
    assert request.partitions_def_name == SOURCES_PARTITIONS_NAME and list(request.partition_keys) == ["more"]
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, list(request.partition_keys))
    again = sources_sensor(
        dg.build_sensor_context(instance=instance, resources={"sources": SourcesResource(file=str(file))})
    )
    assert isinstance(again, dg.SkipReason) and "already have partitions" in again.skip_message


def test_invalid_registry_skips_with_the_error(tmp_path, instance):
    file = tmp_path / "sources.toml"
    file.write_text("[sources.x\n")
    result = sources_sensor(
        dg.build_sensor_context(instance=instance, resources={"sources": SourcesResource(file=str(file))})
    )
    assert isinstance(result, dg.SkipReason)
    assert "TOML syntax error" in result.skip_message and str(file) in result.skip_message
    assert instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME) == []
