"""The checks of one asset run as one Dagster step: what that step promises beyond a single check."""

import datetime as dt
import time

import dagster as dg
import polars as pl

from assets.partitions import lake_partitions, partition_key
from checks.factories import CHECK_SECONDS, PartitionReads, check_step, partition_check
from resources.lake import LakeResource
from resources.sources import SourcesResource

DAY = dt.date(2024, 3, 1)
UP = dg.AssetKey("upstream_thing")
DOWN = dg.AssetKey("downstream_thing")


@dg.asset(key=UP, partitions_def=lake_partitions, io_manager_key="mem")
def upstream_thing() -> pl.DataFrame:
    return pl.DataFrame({"x": [1, 2]})


@dg.asset(key=DOWN, deps=[UP], partitions_def=lake_partitions)
def downstream_thing() -> None:
    return None


def _step(seen: list):
    @partition_check(UP, "thing_explodes", blocking=True, description="A rule with a bug.")
    def explodes(reads: PartitionReads) -> dg.AssetCheckResult:
        seen.append(("explodes", reads.partition))
        raise ZeroDivisionError("the rule divided by zero")

    @partition_check(UP, "thing_fine", description="A rule that holds.")
    def fine(reads: PartitionReads) -> dg.AssetCheckResult:
        seen.append(("fine", reads.partition))
        return dg.AssetCheckResult(passed=True, metadata={"partition": reads.where})

    return check_step("thing_checks", [explodes, fine], "Both rules of the thing.")


def _materialize(instance, tmp_path, step, selection=None):
    instance.add_dynamic_partitions("sources", ["s"])
    return dg.materialize(
        [upstream_thing, downstream_thing, step], instance=instance, partition_key=partition_key("s", DAY),
        resources={"lake": LakeResource(root=str(tmp_path / "lake")),
                   "sources": SourcesResource(file=str(tmp_path / "sources.toml")),
                   "mem": dg.InMemoryIOManager()},
        selection=selection, raise_on_error=False)


def test_a_rule_that_raises_is_a_failed_check_and_its_siblings_still_report(instance, tmp_path):
    seen: list = []
    result = _materialize(instance, tmp_path, _step(seen))
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"thing_explodes", "thing_fine"}
    broken = evaluations["thing_explodes"]
    assert not broken.passed and broken.severity == dg.AssetCheckSeverity.ERROR
    assert "ZeroDivisionError: the rule divided by zero" in broken.description and "s/2024-03-01" in broken.description
    assert evaluations["thing_fine"].passed and evaluations["thing_fine"].asset_key == UP
    assert seen == [("explodes", ("s", DAY)), ("fine", ("s", DAY))]  # both ran, on the run's partition
    # the failed rule is blocking: the downstream asset is not materialised, and the run says so
    assert not result.success
    done = {e.asset_key for e in result.get_asset_materialization_events()}
    assert UP in done and DOWN not in done


def test_one_check_of_a_step_can_run_alone(instance, tmp_path):
    seen: list = []
    step = _step(seen)
    result = _materialize(instance, tmp_path, step,
                          selection=dg.AssetSelection.assets(UP).without_checks() | dg.AssetSelection.checks(
                              dg.AssetCheckKey(UP, "thing_fine")))
    assert [e.check_name for e in result.get_asset_check_evaluations()] == ["thing_fine"]
    assert seen == [("fine", ("s", DAY))] and result.success


def test_each_check_reports_its_own_seconds_beside_its_metadata(instance, tmp_path):
    @partition_check(UP, "thing_slow", description="A rule that takes a while.")
    def slow(reads: PartitionReads) -> dg.AssetCheckResult:
        time.sleep(0.3)
        return dg.AssetCheckResult(passed=True, metadata={"partition": reads.where})

    @partition_check(UP, "thing_quick", description="A rule that does not.")
    def quick(reads: PartitionReads) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    result = _materialize(instance, tmp_path, check_step("thing_checks", [slow, quick], "Slow and quick."))
    metadata = {e.check_name: {k: v.value for k, v in e.metadata.items()}
                for e in result.get_asset_check_evaluations()}
    assert metadata["thing_slow"]["partition"] == "s/2024-03-01"  # the rule's own metadata is kept
    assert metadata["thing_slow"][CHECK_SECONDS] >= 0.3 > metadata["thing_quick"][CHECK_SECONDS] >= 0


def test_a_step_reads_one_snapshot_of_each_table_and_lists_its_log_once(tmp_path, monkeypatch):
    """Every read of a table in one check step goes through the snapshot the step opened first: one open
    (one log listing) however many reads, and a commit landing mid-step is not half seen."""
    import core.lake as lake_module
    from core.contracts import INDEX_TERM_STATS
    from core.lake import write_partitions

    root, part = str(tmp_path / "lake"), ("s", DAY)

    def stats(*terms: str) -> pl.DataFrame:
        return INDEX_TERM_STATS.frame(pl.DataFrame({"term": list(terms), "df": [1] * len(terms)}), *part)

    write_partitions(root, INDEX_TERM_STATS, stats("alpha", "beta"), [part])
    opened: list[str] = []
    real = lake_module.open_delta
    monkeypatch.setattr(lake_module, "open_delta", lambda uri, *a, **k: opened.append(uri) or real(uri, *a, **k))
    reads = PartitionReads(part, LakeResource(root=root), SourcesResource(file=str(tmp_path / "sources.toml")))
    assert reads.columns(INDEX_TERM_STATS, ["term"])["term"].to_list() == ["alpha", "beta"]
    write_partitions(root, INDEX_TERM_STATS, stats("gamma"), [part])  # another run commits meanwhile
    assert sorted(pl.concat(list(reads.batches(INDEX_TERM_STATS)))["term"]) == ["alpha", "beta"]
    assert reads.summarise(INDEX_TERM_STATS, [lambda lf: lf.select(pl.len())])[0].item() == 2
    assert reads.table(INDEX_TERM_STATS)["term"].to_list() == ["alpha", "beta"]
    assert reads.known_hash(INDEX_TERM_STATS) is not None  # our writer's digest of that snapshot's files
    assert len([uri for uri in opened if uri.endswith("term_stats")]) == 1
    fresh = PartitionReads(part, LakeResource(root=root), SourcesResource(file=str(tmp_path / "sources.toml")))
    assert fresh.table(INDEX_TERM_STATS)["term"].to_list() == ["gamma"]  # the next step sees the new version
