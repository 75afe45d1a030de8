"""The engine-caching sqlite instance storage: same files and answers as Dagster's, engines reused."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

import resources.instance_storage as storage_module
from resources.instance_storage import EngineCache, instance_yaml

ROOT = Path(__file__).resolve().parents[2]
parts = dg.StaticPartitionsDefinition(["a", "b", "c"])


@dg.asset(partitions_def=parts)
def numbers(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": len(context.partition_key)})


@dg.asset_check(asset=numbers, blocking=True)
def numbers_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _run_all(instance: dg.DagsterInstance) -> None:
    for key in parts.get_partition_keys():
        result = dg.materialize([numbers, numbers_positive], instance=instance, partition_key=key)
        assert result.success and len(result.get_asset_check_evaluations()) == 1


def _summary(instance: dg.DagsterInstance) -> tuple:
    key = dg.AssetKey("numbers")
    mats = instance.fetch_materializations(key, limit=100).records
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "numbers_positive"), limit=100)
    return (
        sorted(r.partition_key for r in mats),
        sorted(r.status.value for r in checks),
        len(instance.get_runs()),
        sorted(instance.get_materialized_partitions(key)),
    )


def test_a_new_home_uses_it_and_reuses_one_engine_per_database(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance._event_storage
        assert type(storage).__name__ == "EngineCachingEventLogStorage"
        assert type(instance.run_storage).__name__ == "EngineCachingRunStorage"
        _run_all(instance)
        summary = _summary(instance)
        # three runs, ~30 events each, asked through hundreds of connections: one engine per shard only
        assert len(storage.engines) <= 1 + len(instance.get_runs())
        assert len(instance.run_storage.engines) == 1
    assert summary[0] == ["a", "b", "c"] and summary[1] == ["SUCCEEDED"] * 3
    assert summary[2] == 3 and summary[3] == ["a", "b", "c"]
    # the files are Dagster's own layout: the stock storage reads the same instance
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nstorage:\n  sqlite:\n    base_dir: {home / 'storage'}\n")
    with dg.DagsterInstance.from_config(str(home)) as stock:
        assert type(stock._event_storage).__name__ == "SqliteEventLogStorage"
        assert _summary(stock) == summary


def test_an_instance_made_by_stock_dagster_is_read_and_extended(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nstorage:\n  sqlite:\n    base_dir: {home / 'storage'}\n")
    with dg.DagsterInstance.from_config(str(home)) as stock:
        dg.materialize([numbers], instance=stock, partition_key="a", selection=[numbers])
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert [r.partition_key for r in instance.fetch_materializations(dg.AssetKey("numbers"), limit=9).records] \
            == ["a"]
        dg.materialize([numbers], instance=instance, partition_key="b", selection=[numbers])
        assert sorted(instance.get_materialized_partitions(dg.AssetKey("numbers"))) == ["a", "b"]


def test_the_engine_cache_is_bounded_and_drops_the_least_recently_used(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_module, "MAX_ENGINES", 3)
    cache = EngineCache(busy_timeout=True)
    urls = [f"sqlite:///{tmp_path / f'{i}.db'}" for i in range(5)]
    first, made = cache.get(urls[0])
    assert made and cache.get(urls[0]) == (first, False)
    for url in urls[1:3]:
        cache.get(url)
    cache.get(urls[0])  # used again: the oldest is now urls[1]
    cache.get(urls[3])
    assert len(cache) == 3
    assert cache.get(urls[0])[1] is False and cache.get(urls[1])[1] is True  # urls[1] had been dropped


def test_no_transaction_is_left_open_and_other_processes_write_alongside(tmp_path):
    """Kept connections hold no transaction between queries, so other processes take the lock at once."""
    with _instance_from(tmp_path) as instance:
        dg.materialize([numbers], instance=instance, partition_key="a", selection=[numbers])
        index = tmp_path / "home" / "storage" / "history" / "runs" / "index.db"
        # an exclusive lock succeeds at once only if nobody holds the database open in a transaction
        conn = sqlite3.connect(index, timeout=0.1)
        conn.execute("BEGIN EXCLUSIVE")
        conn.rollback()
        conn.close()
        # two other processes write the same instance at once, as parallel CLI workers do
        script = ("import sys, dagster as dg; from tests.integration.test_instance_storage import numbers; "
                  "inst = dg.DagsterInstance.from_config(sys.argv[1]); "
                  "assert dg.materialize([numbers], instance=inst, partition_key=sys.argv[2]).success")
        procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "home"), key], cwd=ROOT)
                 for key in ("b", "c")]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        assert sorted(instance.get_materialized_partitions(dg.AssetKey("numbers"))) == ["a", "b", "c"]


def _instance_from(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    return dg.DagsterInstance.from_config(str(home))


@pytest.mark.parametrize("home", ["with space", "colon: and 'quote'"])
def test_the_written_config_survives_awkward_home_paths(tmp_path, home):
    path = tmp_path / home
    path.mkdir()
    (path / "dagster.yaml").write_text(instance_yaml(str(path)))
    with dg.DagsterInstance.from_config(str(path)) as instance:
        dg.materialize([numbers], instance=instance, partition_key="a", selection=[numbers])
    assert (path / "storage" / "history" / "runs.db").exists()


# Where a first initialisation of each sqlite storage can be SIGKILLed between two separate commits:
# before any table exists (the database file may already be there, empty), and after the tables
# but before the alembic stamp. The kill is made by the process itself at that exact call.
_KILL_SCRIPT = """
import os, signal, sys
import dagster as dg
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.runs.sqlite import sqlite_run_storage
from dagster._core.storage.schedules.sqlite import sqlite_schedule_storage

module = {"runs": sqlite_run_storage, "index": sqlite_event_log, "schedules": sqlite_schedule_storage}[sys.argv[2]]
point = sys.argv[3]
if point == "before_tables":
    metadata = {"runs": sqlite_run_storage.RunStorageSqlMetadata,
                "index": sqlite_event_log.SqlEventLogStorageMetadata,
                "schedules": sqlite_schedule_storage.ScheduleStorageSqlMetadata}[sys.argv[2]]
    metadata.create_all = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
else:
    module.stamp_alembic_rev = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
dg.DagsterInstance.from_config(sys.argv[1])
sys.exit(3)  # not reached: the kill point was never passed
"""


@pytest.mark.parametrize("point", ["before_tables", "before_stamp"])
@pytest.mark.parametrize("database", ["runs", "index", "schedules"])
def test_a_first_initialisation_killed_midway_is_finished_by_the_next_open(tmp_path, database, point):
    """CI once saw `dynamic partitions table … does not exist` after a run was killed in its first second.

    The stock event log storage initialises its index database only when the file is missing, so a
    file left empty by a kill was never finished. Every point must leave a home the next process opens
    and uses: dynamic partitions, a run, its materialisation.
    """
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    killed = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(home), database, point],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("sources", ["handbook"])
        assert instance.get_dynamic_partitions("sources") == ["handbook"]
        assert dg.materialize([numbers], instance=instance, partition_key="a", selection=[numbers]).success
        assert instance.get_materialized_partitions(dg.AssetKey("numbers")) == {"a"}


_OPEN_SCRIPT = ("import sys, dagster as dg; inst = dg.DagsterInstance.from_config(sys.argv[1]); "
                "inst.add_dynamic_partitions('sources', [sys.argv[2]]); print('opened')")


@pytest.mark.parametrize("trial", range(2))
def test_four_processes_opening_a_new_home_at_once_all_succeed_and_stamp_once(tmp_path, trial):
    """Stock Dagster failed 10 of 32 such opens here and could leave two alembic stamps, breaking the home."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_SCRIPT, str(home), f"s{k}"], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in range(4)]
    outcomes = [(p.wait(timeout=120), p.stderr.read()[-1500:]) for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    storage = home / "storage"
    for db in (storage / "history" / "runs.db", storage / "history" / "runs" / "index.db",
               storage / "schedules" / "schedules.db"):
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,), db
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("sources")) == ["s0", "s1", "s2", "s3"]


def test_a_wipe_closes_the_kept_connections_and_the_instance_goes_on(tmp_path):
    """Dagster's wipe deletes run shards and WAL files that kept connections point at."""
    with _instance_from(tmp_path) as instance:
        _run_all(instance)
        storage = instance.event_log_storage
        assert len(storage.engines) >= 2  # the index shard and run shards, each with its kept connection
        instance.wipe()
        assert _summary(instance) == ([], [], 0, [])
        _run_all(instance)
        assert _summary(instance) == (["a", "b", "c"], ["SUCCEEDED"] * 3, 3, ["a", "b", "c"])
    with _instance_from_existing(tmp_path) as again:  # what another process reads from the files
        assert _summary(again) == (["a", "b", "c"], ["SUCCEEDED"] * 3, 3, ["a", "b", "c"])


def test_a_forked_child_never_uses_its_parents_connections(tmp_path):
    """A child of ``fork`` opens its own connections; the parent's go on working after the child exits."""
    import os

    with _instance_from(tmp_path) as instance:
        _run_all(instance)
        index_engine, _ = instance.event_log_storage.engines.get(
            instance.event_log_storage.conn_string_for_shard(storage_module.INDEX_SHARD_NAME))
        assert index_engine.pool.checkedin() == 1  # the kept connection
        pid = os.fork()
        if pid == 0:  # the child: its pool starts empty, and it can read the instance through new connections
            ok = index_engine.pool.checkedin() == 0 and len(instance.get_runs()) == 3
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert _summary(instance) == (["a", "b", "c"], ["SUCCEEDED"] * 3, 3, ["a", "b", "c"])


def _instance_from_existing(tmp_path):
    return dg.DagsterInstance.from_config(str(tmp_path / "home"))
