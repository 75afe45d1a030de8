"""Drift: calm weeks stay ok, injected drift is caught, the sensor requests exactly one run per new data."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from core.contracts import DRIFT_REPORTS
from core.corpus import generate, write_corpus
from core.distill import build_scores
from core.drift import evaluate, gather
from core.evidence import build_evidence
from core.indexing import build_indexes
from core.lake import read_partitions
from core.objects import ObjectStore
from core.scoring import SCORER_VERSION
from core.snapshot import take_snapshot
from core.sources import SourceConfig
from sensors.drift import drift_sensor
from tests.helpers import materialize_all, resources_for, write_sources

START = dt.date(2026, 11, 16)
DAYS = 14


def _week_data(tmp_path, drift_from):
    """PartitionData for 14 generated days (the pipeline's core functions, without Dagster)."""
    folder = tmp_path / f"kb{drift_from}"
    write_corpus(generate(DAYS, 60, seed=7, drift_from=drift_from), folder)
    store = ObjectStore(str(tmp_path / f"lake{drift_from}"))
    out = []
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        snap = take_snapshot(SourceConfig("kb", "jsonl", folder), day, store, today=day)
        ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
        scores = build_scores(ev.records, "kb", day)
        terms = build_indexes(ev.records, "kb", day).tables["index/terms"]
        out.append(gather(scores, ev.records, terms, pl.DataFrame(), SCORER_VERSION))
    return out


@pytest.fixture(scope="session")  # once per xdist worker, however tests interleave
def calm(tmp_path_factory):
    return _week_data(tmp_path_factory.mktemp("calm"), None)


@pytest.fixture(scope="session")  # once per xdist worker, however tests interleave
def drifting(tmp_path_factory):
    return _week_data(tmp_path_factory.mktemp("drift"), 4)


def test_two_calm_weeks_are_ok_against_previous_day_and_pinned_baselines(calm):
    for i in range(1, DAYS):
        for baseline in (calm[i - 1], calm[0]):
            statuses = {r["metric"]: r["status"] for r in evaluate(baseline, calm[i])}
            assert set(statuses) >= {"score_distribution", "category_mix", "evidence_kind_mix", "vocabulary",
                                     "payload_schema"}
            assert set(statuses.values()) == {"ok"}, (i, statuses)


def test_drift_from_day_4_is_caught_and_days_1_to_3_are_not(drifting):
    for i in range(1, DAYS):
        statuses = {r["metric"]: r["status"] for r in evaluate(drifting[0], drifting[i])}  # pinned baseline: day 0
        expected = "drift" if i >= 4 else "ok"
        assert statuses["score_distribution"] == expected, (i, statuses)
        assert statuses["category_mix"] == expected, (i, statuses)


def test_every_row_can_be_recomputed(drifting):
    import json

    from core.drift_stats import ks_2samp

    row = next(r for r in evaluate(drifting[0], drifting[5]) if r["metric"] == "score_distribution")
    d, p, _ = ks_2samp(drifting[0].scores, drifting[5].scores)
    assert (row["value"], row["p_value"]) == (d, p)
    assert json.loads(row["threshold"])["alpha"] == 0.001 and row["n_baseline"] == len(drifting[0].scores)


def test_sensor_requests_exactly_one_drift_run_per_new_data(tmp_path, instance, lake_root):
    write_corpus(generate(2, 30, seed=3), tmp_path / "kb")
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": "kb"}})
    for day in (START, START + dt.timedelta(days=1)):
        assert materialize_all(instance, lake_root, sources, "kb", day).success
    first = drift_sensor(dg.build_sensor_context(instance=instance, cursor=None))
    assert sorted(r.partition_key for r in first) == ["2026-11-16|kb", "2026-11-17|kb"]  # one per partition
    assert len({r.run_key for r in first}) == 2
    cursor = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(["distill", "scores"])),
                                             limit=1).records[0].storage_id
    again = drift_sensor(dg.build_sensor_context(instance=instance, cursor=str(cursor + 1000)))
    assert isinstance(again, dg.SkipReason)
    # the same data materialised again gives the same run key: the daemon will not launch it twice
    assert materialize_all(instance, lake_root, sources, "kb", START + dt.timedelta(days=1)).success
    repeat = drift_sensor(dg.build_sensor_context(instance=instance, cursor=str(cursor)))
    request = next(r for r in repeat if r.partition_key == "2026-11-17|kb")
    original = next(r for r in first if r.partition_key == "2026-11-17|kb")
    assert request.run_key.split(":")[2] == original.run_key.split(":")[2]  # scores unchanged
    # launching the request writes the evaluation to the ledger and runs drift_within_threshold
    from definitions import build_definitions

    job = build_definitions(resources_for(lake_root, sources)).resolve_job_def("drift_job")
    result = job.execute_in_process(partition_key=request.partition_key, instance=instance, raise_on_error=False)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"drift_reports_schema", "drift_within_threshold"} and checks["drift_reports_schema"]
    reports = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", START + dt.timedelta(days=1))])
    assert reports.height >= 4 and set(reports["baseline_day"].to_list()) == {START}
    second = job.execute_in_process(partition_key=request.partition_key, instance=instance, raise_on_error=False)
    ledger = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", START + dt.timedelta(days=1))])
    assert ledger["evaluation_id"].n_unique() == 2 and second.success  # append-only: the first evaluation stays
    assert ledger.filter(pl.col("evaluation_id") == result.run_id).sort("metric").drop("evaluated_at").equals(
        reports.sort("metric").drop("evaluated_at"))
