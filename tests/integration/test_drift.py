"""Drift: calm weeks stay ok, injected drift is caught, the sensor requests exactly one run per new data."""

import datetime as dt
import json

import dagster as dg
import polars as pl
import pytest

from core.contracts import DISTILL_SCORES, DRIFT_REPORTS
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
    assert (row["value"], row["p_value"]) == (d, p) and row["p_value_adjusted"] >= p
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


def test_the_issue_sequence_flags_every_drifted_day_by_default_and_no_calm_day(tmp_path):
    """gen-corpus --days 8 --per-day 200 --seed 11 --drift-from 4, every day against the default baseline."""
    from benchmarks.drift_calibration import statuses, week

    data = week(tmp_path, 11, 8, 200, 4)
    default = statuses(data, "reference")
    assert default[0] == {}  # the first day has nothing to compare with
    for i in range(1, 4):
        assert "drift" not in default[i].values(), (i, default[i])
    for i in range(4, 8):
        assert default[i]["score_distribution"] == default[i]["category_mix"] == "drift", (i, default[i])
    # the old default (previous day) loses sustained drift after its first day: why the default changed
    change = statuses(data, "change")
    assert sum(change[i].get("score_distribution") == "drift" for i in range(4, 8)) < 4


def _evaluate(job, instance, day, baseline=None):
    config = {"ops": {"drift__reports": {"config": {"baseline": baseline}}}}
    return job.execute_in_process(partition_key=f"{day.isoformat()}|kb", instance=instance, raise_on_error=False,
                                  run_config=config)


def test_reports_name_their_baseline_and_versions_and_carry_drift_since(tmp_path, instance, lake_root):
    from core.lake import write_partitions
    from definitions import build_definitions

    days = [START + dt.timedelta(days=i) for i in range(5)]
    write_corpus(generate(5, 60, seed=7, drift_from=3), tmp_path / "kb")
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": "kb"}})
    for day in days:
        assert materialize_all(instance, lake_root, sources, "kb", day).success
    job = build_definitions(resources_for(lake_root, sources)).resolve_job_def("drift_job")
    for day in days:  # in order, as `drift --from --to` does
        assert _evaluate(job, instance, day).success
    reports = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", d) for d in days])
    assert reports.filter(pl.col("day") == days[0]).height == 0  # no baseline for the first day
    score = {r["day"]: r for r in reports.filter(pl.col("metric") == "score_distribution").iter_rows(named=True)}
    assert score[days[1]]["baseline_days"] == [days[0]] and score[days[2]]["baseline_days"] == days[:2]
    assert score[days[4]]["baseline_days"] == days[:3] and score[days[4]]["baseline_mode"] == "reference"
    assert [score[d]["status"] for d in days[1:]] == ["ok", "ok", "drift", "drift"]
    assert [score[d]["drift_since"] for d in days[1:]] == [None, None, days[3], days[3]]
    versions = json.loads(score[days[4]]["baseline_versions"])
    assert set(versions["partitions"]) == {f"kb/{d}" for d in (*days[:3], days[4])}

    # a pinned baseline day rewritten later: the report says which commit of it was read
    assert _evaluate(job, instance, days[4], "2026-11-16").success
    before = _pinned_read(lake_root, days[4])
    assert materialize_all(instance, lake_root, sources, "kb", days[0]).success
    assert _evaluate(job, instance, days[4], "2026-11-16").success
    after = _pinned_read(lake_root, days[4])
    assert after["distill/scores"] > before["distill/scores"]

    # a window that contains the day, or holds no data, is refused with the reason
    for bad, says in [("2026-11-18..2026-11-21", "contains the day under test"),
                      ("2026-10-01..2026-10-05", "holds no day with data")]:
        failed = _evaluate(job, instance, days[4], bad)
        assert not failed.success
        assert says in next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message

    # scorer drift: a new scorer version written beside the old one is compared on the same evidence
    old = read_partitions(str(lake_root), DISTILL_SCORES, [("kb", days[4])])
    new = old.with_columns(pl.lit("1.1.0").alias("scorer_version"),
                           pl.when(pl.col("category") == "accepted").then(pl.lit(0.2)).otherwise(pl.col("score"))
                           .alias("score"),
                           pl.when(pl.col("category") == "accepted").then(pl.lit("rejected"))
                           .otherwise(pl.col("category")).alias("category"))
    write_partitions(str(lake_root), DISTILL_SCORES, new, [("kb", days[4])])
    assert read_partitions(str(lake_root), DISTILL_SCORES, [("kb", days[4])]).height == 2 * old.height
    result = _evaluate(job, instance, days[4])
    assert result.success
    rows = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", days[4])]).filter(
        pl.col("evaluation_id") == result.run_id)
    scorer = {r["metric"]: r for r in rows.filter(pl.col("baseline_mode") == "scorer_version").iter_rows(named=True)}
    accepted = old.filter(pl.col("category") == "accepted").height
    assert accepted > 0 and scorer["scorer_category_flips"]["value"] == pytest.approx(accepted / old.height)
    details = json.loads(scorer["scorer_category_flips"]["details"])
    assert details["confusion"]["accepted"] == {"rejected": accepted}
    assert (details["old_version"], details["new_version"]) == (SCORER_VERSION, "1.1.0")
    assert scorer["scorer_category_flips"]["status"] == "drift" and scorer["scorer_category_flips"]["drift_since"] \
        == days[4]
    assert rows.filter(pl.col("baseline_mode") == "reference").height >= 4  # the day's own evaluation is still there

    # a source's drift_baseline in sources.toml is what the sensor's runs (no run config) use
    declared = {"kb": {"kind": "jsonl", "path": "kb", "drift_baseline": "change"}}
    sources = write_sources(tmp_path / "sources.toml", declared)
    job = build_definitions(resources_for(lake_root, sources)).resolve_job_def("drift_job")
    result = job.execute_in_process(partition_key=f"{days[4].isoformat()}|kb", instance=instance)
    rows = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", days[4])]).filter(
        pl.col("evaluation_id") == result.run_id, pl.col("metric") == "score_distribution")
    assert rows["baseline_mode"].to_list() == ["change"] and rows["baseline_days"].to_list() == [[days[3]]]


def _pinned_read(lake_root, day) -> dict:
    rows = read_partitions(str(lake_root), DRIFT_REPORTS, [("kb", day)]).filter(pl.col("baseline_mode") == "pinned")
    newest = rows.filter(pl.col("evaluated_at") == pl.col("evaluated_at").max())
    return json.loads(newest["baseline_versions"][0])["partitions"]["kb/2026-11-16"]
