"""The snapshot step starts the evidence step's extraction pool when that step will extract every file
(assets.snapshots.evidence_pool_starter), and only then."""

import datetime as dt
import os

import dagster as dg
import polars as pl
import pytest

import assets.snapshots as snapshot_assets
import core.file_extraction as file_extraction
from assets.evidence import evidence
from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
from assets.snapshots import raw_snapshot
from core.contracts import EVIDENCE_RECORDS
from core.lake import read_partitions
from core.pool import WARM
from tests.helpers import commit_files, init_repo, pool_pids, resources_for, write_sources

DAY1, DAY2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
STARTED = "EVIDENCE_LAKE_PRESTART_TEST_STARTED"  # a folder each prestarted worker leaves its pid in


def _warm_and_note() -> None:
    file_extraction.warm_worker()
    with open(os.path.join(os.environ[STARTED], str(os.getpid())), "w"):
        pass


@pytest.fixture
def repo_sources(tmp_path):
    repo = init_repo(tmp_path / "repo")
    files = {f"pkg/m{i}.py": f'"""M{i}."""\n\n\ndef f{i}(a):\n    return a\n'.encode() for i in range(6)}
    files["README.md"] = b"# Repo\n\ntext\n"
    files["blob.bin"] = b"\x00\x01"
    commit_files(repo, dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC), files)
    commit_files(repo, dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC), {"pkg/m0.py": b'"""Changed."""\n'})
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "s.jsonl").write_text('{"ts": "2026-11-20T10:00:00Z", "session_id": "a"}\n')
    return write_sources(tmp_path / "sources.toml", {"repo": {"kind": "git", "path": "repo"},
                                                     "kb": {"kind": "jsonl", "path": "kb"}})


def _run(instance, lake, sources, source, day, assets, env_workers=None):
    if source not in instance.get_dynamic_partitions(SOURCES_PARTITIONS_NAME):
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, [source])
    result = dg.materialize(assets, partition_key=partition_key(source, day), instance=instance,
                            resources=resources_for(lake, sources), raise_on_error=False)
    assert result.success
    return result


def test_the_pool_is_started_ahead_only_when_the_run_extracts_every_file(tmp_path, repo_sources, monkeypatch):
    asked: list[int] = []
    monkeypatch.setattr(snapshot_assets, "prestart_extraction", lambda files: asked.append(files) or False)
    lake = tmp_path / "lake"
    with dg.instance_for_test() as instance:
        _run(instance, lake, repo_sources, "repo", DAY1, [raw_snapshot])
        assert asked == []  # no evidence step in the run
        _run(instance, lake, repo_sources, "repo", DAY1, [raw_snapshot, evidence])
        assert asked == [8]  # every file read whole, the binary one too: the count is known before hashing
        _run(instance, lake, repo_sources, "repo", DAY2, [raw_snapshot, evidence])
        assert asked == [8]  # day 1's evidence is reused: one file to extract, no pool
        _run(instance, lake, repo_sources, "repo", DAY1, [raw_snapshot, evidence])
        assert asked == [8]  # a rerun reuses its own partition's evidence
        _run(instance, lake, repo_sources, "kb", DAY1, [raw_snapshot, evidence])
        assert asked == [8]  # a stream source has no file extraction


def test_a_prestarted_pool_is_the_one_the_evidence_step_uses_and_gives_the_rows_of_one_process(
        tmp_path, repo_sources, monkeypatch):
    started: list[bool] = []
    real_prestart = WARM.prestart

    def prestart(workers, initializer):
        assert initializer is file_extraction.warm_worker
        started.append(real_prestart(workers, _warm_and_note))
        return started[-1]

    monkeypatch.setattr(WARM, "prestart", prestart)
    monkeypatch.setenv(STARTED, str(tmp_path))
    monkeypatch.setattr(file_extraction, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(file_extraction, "CHUNK_FILES", 2)
    rows = {}
    WARM.close()
    try:
        for workers in ("2", "1"):
            monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", workers)
            lake = tmp_path / f"lake{workers}"
            with dg.instance_for_test() as instance:  # sets DAGSTER_HOME: a pool started outside it is stale
                _run(instance, lake, repo_sources, "repo", DAY1, [raw_snapshot, evidence])
                if workers == "2":
                    assert started == [True]  # started by the snapshot step
                    used = pool_pids(2, 8, tmp_path / "met")
                    assert used == {int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()}
                    assert len(used) == 2  # the evidence step borrowed those workers and left them warm
            rows[workers] = read_partitions(str(lake), EVIDENCE_RECORDS, [("repo", DAY1)]).drop("recorded_at")
        assert started == [True, False]  # one worker: no pool
    finally:
        WARM.close()
    assert rows["2"].height > 6 and rows["2"].equals(rows["1"])
    assert rows["2"].filter(pl.col("kind") == "symbol").height >= 6


def test_the_head_start_follows_the_pool_threshold_and_the_worker_setting(monkeypatch):
    monkeypatch.setattr(file_extraction, "POOL_MIN_FILES", 10)
    WARM.close()
    try:
        assert not file_extraction.prestart_extraction(9, workers=2) and WARM.pool is None
        assert not file_extraction.prestart_extraction(10, workers=1) and WARM.pool is None
        assert file_extraction.prestart_extraction(10, workers=2) and WARM.ready() == 2
    finally:
        WARM.close()


def test_an_unreadable_evidence_table_costs_the_head_start_not_the_snapshot(tmp_path, repo_sources, monkeypatch):
    asked: list[int] = []
    monkeypatch.setattr(snapshot_assets, "prestart_extraction", lambda files: asked.append(files) or False)
    lake = tmp_path / "lake"
    log = lake / "evidence" / "records" / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text("not a delta log\n")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["repo"])
        result = dg.materialize([raw_snapshot, evidence], partition_key=partition_key("repo", DAY1),
                                instance=instance, resources=resources_for(lake, repo_sources), raise_on_error=False)
        succeeded = {e.step_key for e in result.get_step_success_events()}
        failed = {e.step_key for e in result.all_events if e.is_step_failure}
    assert succeeded == {"raw_snapshot"} and failed == {"evidence"}  # the evidence step says what is wrong
    assert asked == []
