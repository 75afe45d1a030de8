"""The CLI's in-process runs keep no output in memory, and otherwise behave as execute_in_process."""

import dagster as dg
import pytest

from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
from assets.snapshots import raw_snapshot
from core.contracts import SNAPSHOT_FILES
from core.lake import read_partitions
from resources.run_in_process import run_in_process
from tests.helpers import resources_for, utc_today, write_sources


@pytest.fixture
def snapshot_job(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n")
    sources = write_sources(tmp_path / "sources.toml", {"docs": {"kind": "tree", "path": "docs"}})
    defs = dg.Definitions(assets=[raw_snapshot], resources=resources_for(tmp_path / "lake", sources),
                          jobs=[dg.define_asset_job("snap", selection=[raw_snapshot])])
    return defs.resolve_job_def("snap"), tmp_path / "lake"


def test_a_run_writes_and_reports_like_execute_in_process_but_keeps_no_output(instance, snapshot_job):
    job, lake = snapshot_job
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["docs"])
    key = partition_key("docs", utc_today())
    result = run_in_process(job, instance=instance, partition_key=key, tags={"who": "test"})
    assert result.success and result.dagster_run.tags["who"] == "test"
    assert result.dagster_run.tags["dagster/partition"] == str(key)
    written = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert written == {("raw", "snapshots"), ("raw", "snapshot_files")}
    assert read_partitions(str(lake), SNAPSHOT_FILES, [("docs", utc_today())])["path"].to_list() == ["a.md"]
    captured = job.execute_in_process(instance=instance, partition_key=key)
    assert captured.asset_value(SNAPSHOT_FILES.asset_key).height == 1  # Dagster's own run holds the frame
    with pytest.raises(dg.DagsterInvariantViolationError):  # ours does not: the frame was written and let go
        result.asset_value(SNAPSHOT_FILES.asset_key)


def test_an_unknown_partition_is_refused_as_execute_in_process_refuses_it(instance, snapshot_job):
    job, _ = snapshot_job
    key = str(partition_key("nosuch", utc_today()))
    for run in (lambda: job.execute_in_process(instance=instance, partition_key=key),
                lambda: run_in_process(job, instance=instance, partition_key=key)):
        with pytest.raises(dg.DagsterUnknownPartitionError, match="nosuch"):
            run()
