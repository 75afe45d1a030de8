"""The Delta IO manager's guarantees, each pinned where the library IO managers lose data."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable

from assets.partitions import SOURCES_PARTITIONS_NAME, lake_partitions, partition_key
from core.contracts import SNAPSHOTS
from core.lake import LakeWriteError, read_partitions, write_partitions
from io_managers.delta import DeltaPartitionIOManager
from resources.lake import LakeResource
from tests.helpers import rows_hash

DAY_A = dt.date(2024, 5, 1)
DAY_B = dt.date(2024, 5, 2)


def _rows(source: str, day: dt.date, n_files: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "schema_name": [SNAPSHOTS.schema_name],
            "schema_version": [1],
            "source": [source],
            "day": [day],
            "snapshot_id": [f"{n_files:064x}"],
            "source_kind": ["tree"],
            "as_of": ["t"],
            "file_count": [n_files],
            "total_bytes": [n_files * 10],
            "stored_count": [n_files],
            "rejected_count": [0],
            "taken_at": [dt.datetime.now(dt.UTC)],
        },
        schema=SNAPSHOTS.polars_schema,
    )


def _assets(mode: dict):
    @dg.asset(key=SNAPSHOTS.asset_key, partitions_def=lake_partitions)
    def snaps(context: dg.AssetExecutionContext) -> pl.DataFrame:
        keys = context.partition_key.keys_by_dimension
        day = dt.date.fromisoformat(keys["day"])
        df = _rows(keys["source"], day, mode.get("n", 3))
        if mode.get("bad_type"):
            df = df.with_columns(pl.col("file_count").cast(pl.Int32))
        if mode.get("foreign_row"):
            df = pl.concat([df, _rows("other", day, 1)])
        return df

    @dg.asset(deps=[snaps])
    def everything(context: dg.AssetExecutionContext, lake: LakeResource) -> None:
        mode["seen"] = lake.read(SNAPSHOTS)

    @dg.asset(ins={"snaps": dg.AssetIn(key=SNAPSHOTS.asset_key)}, io_manager_key="mem")
    def reader(snaps: pl.DataFrame) -> int:
        mode["loaded"] = snaps
        return snaps.height

    return snaps, everything, reader


def _run(instance, lake_root, mode, key, selection=None):
    snaps, everything, reader = _assets(mode)
    lake = LakeResource(root=str(lake_root))
    return dg.materialize(
        selection or [snaps],
        partition_key=key,
        instance=instance,
        raise_on_error=False,
        resources={"lake": lake, "io_manager": DeltaPartitionIOManager(lake=lake), "mem": dg.InMemoryIOManager()},
    )


@pytest.fixture
def ready(instance):
    instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["a", "b", "other"])
    return instance


def _mat_metadata(result):
    (event,) = result.get_asset_materialization_events()
    return event.event_specific_data.materialization.metadata


def test_writing_one_partition_leaves_the_others_identical(ready, lake_root):
    assert _run(ready, lake_root, {"n": 3}, partition_key("a", DAY_A)).success
    assert _run(ready, lake_root, {"n": 5}, partition_key("b", DAY_A)).success
    assert _run(ready, lake_root, {"n": 7}, partition_key("a", DAY_B)).success
    before_b = read_partitions(str(lake_root), SNAPSHOTS, [("b", DAY_A)])
    before_a2 = read_partitions(str(lake_root), SNAPSHOTS, [("a", DAY_B)])
    assert _run(ready, lake_root, {"n": 4}, partition_key("a", DAY_A)).success  # rewrite A with new content
    after = read_partitions(str(lake_root), SNAPSHOTS)
    assert after.height == 3
    assert after.filter((pl.col("source") == "b") & (pl.col("day") == DAY_A)).equals(before_b)
    assert after.filter((pl.col("source") == "a") & (pl.col("day") == DAY_B)).equals(before_a2)
    assert after.filter((pl.col("source") == "a") & (pl.col("day") == DAY_A))["file_count"].to_list() == [4]


def test_rewriting_a_partition_gives_the_same_content_hash_and_a_new_version(ready, lake_root):
    first = _run(ready, lake_root, {"n": 3}, partition_key("a", DAY_A))
    second = _run(ready, lake_root, {"n": 3}, partition_key("a", DAY_A))
    m1, m2 = _mat_metadata(first), _mat_metadata(second)
    assert m1["content_hash"].value == m2["content_hash"].value  # taken_at differs but is volatile
    assert m2["delta_version"].value == m1["delta_version"].value + 1
    assert m1["dagster/row_count"].value == 1
    stored = read_partitions(str(lake_root), SNAPSHOTS, [("a", DAY_A)])
    assert rows_hash(stored, SNAPSHOTS.key, SNAPSHOTS.volatile) == m2["content_hash"].value
    history = DeltaTable(str(lake_root / "raw" / "snapshots")).history(1)[0]
    assert history["evidence_lake.content_hash"] == m2["content_hash"].value
    assert history["evidence_lake.rows"] == "1"
    assert history["evidence_lake.dagster_run_id"] == second.run_id


def test_unpartitioned_reader_sees_every_partition(ready, lake_root):
    for src, day in [("a", DAY_A), ("b", DAY_A), ("a", DAY_B)]:
        assert _run(ready, lake_root, {"n": 2}, partition_key(src, day)).success
    mode: dict = {}
    snaps, everything, _ = _assets(mode)
    lake = LakeResource(root=str(lake_root))
    result = dg.materialize([everything], instance=ready, resources={"lake": lake}, selection=[everything])
    assert result.success
    seen = mode["seen"]
    assert sorted(zip(seen["source"].to_list(), seen["day"].to_list(), strict=True)) == [
        ("a", DAY_A),
        ("a", DAY_B),
        ("b", DAY_A),
    ]


def test_partitioned_input_loads_exactly_its_partition(ready, lake_root):
    for src, day in [("a", DAY_A), ("b", DAY_A), ("a", DAY_B)]:
        assert _run(ready, lake_root, {"n": 2}, partition_key(src, day)).success
    mode: dict = {}
    snaps, _, reader = _assets(mode)
    lake = LakeResource(root=str(lake_root))

    @dg.asset(partitions_def=lake_partitions, ins={"snaps": dg.AssetIn(key=SNAPSHOTS.asset_key)}, io_manager_key="mem")
    def part_reader(snaps: pl.DataFrame) -> int:
        mode["part"] = snaps
        return snaps.height

    result = dg.materialize(
        [snaps, part_reader],
        selection=[part_reader],
        partition_key=partition_key("b", DAY_A),
        instance=ready,
        resources={"lake": lake, "io_manager": DeltaPartitionIOManager(lake=lake), "mem": dg.InMemoryIOManager()},
    )
    assert result.success
    assert mode["part"].select("source", "day").rows() == [("b", DAY_A)]


def test_schema_mismatch_raises_naming_the_column(ready, lake_root):
    result = _run(ready, lake_root, {"bad_type": True}, partition_key("a", DAY_A))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    text = str(failure.step_failure_data.error.to_string())
    assert "column 'file_count' has type Int32, contract says Int64" in text
    assert DeltaTable.is_deltatable(str(lake_root / "raw" / "snapshots")) is False  # nothing written


def test_rows_outside_the_partition_are_refused_and_nothing_is_written(ready, lake_root):
    assert _run(ready, lake_root, {"n": 2}, partition_key("b", DAY_A)).success
    result = _run(ready, lake_root, {"foreign_row": True}, partition_key("a", DAY_A))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "(other, 2024-05-01) are not in the partitions being written" in failure.step_failure_data.error.to_string()
    assert read_partitions(str(lake_root), SNAPSHOTS).select("source").to_series().to_list() == ["b"]


def test_core_write_refuses_missing_and_extra_columns(lake_root):
    df = _rows("a", DAY_A, 1)
    with pytest.raises(LakeWriteError, match="column 'as_of' is missing"):
        write_partitions(str(lake_root), SNAPSHOTS, df.drop("as_of"), [("a", DAY_A)])
    with pytest.raises(LakeWriteError, match="column 'zzz' is not in the contract"):
        write_partitions(str(lake_root), SNAPSHOTS, df.with_columns(pl.lit(1).alias("zzz")), [("a", DAY_A)])
    with pytest.raises(LakeWriteError, match="no partitions given"):
        write_partitions(str(lake_root), SNAPSHOTS, df.clear(), [])


def test_writing_an_empty_partition_deletes_only_that_partition(lake_root):
    write_partitions(str(lake_root), SNAPSHOTS, _rows("a", DAY_A, 1), [("a", DAY_A)])
    write_partitions(str(lake_root), SNAPSHOTS, _rows("b", DAY_A, 1), [("b", DAY_A)])
    receipt = write_partitions(str(lake_root), SNAPSHOTS, SNAPSHOTS.empty(), [("a", DAY_A)])
    assert receipt.rows == 0
    assert read_partitions(str(lake_root), SNAPSHOTS)["source"].to_list() == ["b"]


def test_source_names_with_quotes_cannot_break_the_predicate(lake_root):
    evil = "x' OR '1'='1"
    write_partitions(str(lake_root), SNAPSHOTS, _rows("keep", DAY_A, 1), [("keep", DAY_A)])
    write_partitions(str(lake_root), SNAPSHOTS, _rows(evil, DAY_A, 1), [(evil, DAY_A)])
    write_partitions(str(lake_root), SNAPSHOTS, _rows(evil, DAY_A, 2), [(evil, DAY_A)])
    got = read_partitions(str(lake_root), SNAPSHOTS).sort("source")
    assert got["source"].to_list() == ["keep", evil]
