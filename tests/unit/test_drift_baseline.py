"""Baseline choice, multiple-testing adjustment, pooling, scorer drift and the bad inputs of drift."""

import datetime as dt
import json
import math

import polars as pl
import pytest

from core.drift import PartitionData, evaluate, holm, pool
from core.drift_baseline import BaselineError, BaselineSpec, choose_baseline, parse_baseline
from core.drift_scorer import scorer_drift, version_key

D = [dt.date(2026, 11, 16) + dt.timedelta(days=i) for i in range(10)]


def test_the_grammar_and_its_refusals():
    assert parse_baseline(None) == parse_baseline("reference") == BaselineSpec("reference", 3)
    assert parse_baseline("reference:5").reference_days == 5
    assert parse_baseline("change").mode == "change"
    pinned = parse_baseline("2026-11-16..2026-11-18")
    assert (pinned.mode, pinned.start, pinned.end, pinned.text()) == ("pinned", D[0], D[2], "2026-11-16..2026-11-18")
    assert parse_baseline("2026-11-16").text() == "2026-11-16"
    for bad, says in [("reference:0", "reference:N"), ("reference:x", "reference:N"), ("yesterday", "one of"),
                      ("2026-11-18..2026-11-16", "ends before it starts"), ("2026-13-01", "one of")]:
        with pytest.raises(BaselineError, match=says):
            parse_baseline(bad)


def test_the_default_is_the_first_three_days_with_data_whatever_day_is_tested():
    with_data = [D[0], D[2], D[3], D[5], D[6], D[9]]  # gaps: only days with data count
    spec = parse_baseline(None)
    assert choose_baseline(spec, with_data, D[9]).days == (D[0], D[2], D[3])
    assert choose_baseline(spec, with_data, D[5]).days == (D[0], D[2], D[3])
    # inside the window: the window's earlier days; the first day has none
    assert choose_baseline(spec, with_data, D[3]).days == (D[0], D[2])
    first = choose_baseline(spec, with_data, D[0])
    assert first.days == () and "first day" in first.reason
    assert choose_baseline(parse_baseline("change"), with_data, D[9]).days == (D[6],)
    assert choose_baseline(parse_baseline("change"), with_data, D[0]).days == ()


def test_a_pinned_window_is_refused_when_it_overlaps_the_day_or_holds_no_data():
    with_data = [D[0], D[1], D[4], D[5]]
    assert choose_baseline(parse_baseline("2026-11-16..2026-11-18"), with_data, D[5]).days == (D[0], D[1])
    with pytest.raises(BaselineError, match=r"contains the day under test \(2026-11-20\)"):
        choose_baseline(parse_baseline("2026-11-16..2026-11-21"), with_data, D[4])
    with pytest.raises(BaselineError, match="holds no day with data.*2026-11-16, 2026-11-17"):
        choose_baseline(parse_baseline("2026-11-18..2026-11-19"), with_data, D[5])


def test_holm_matches_the_step_down_definition():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1, monotone
    assert holm([]) == []


def _data(scores: list[float], categories: dict[str, int]) -> PartitionData:
    return PartitionData(scores=scores, categories=categories)


def test_statuses_use_the_adjusted_p_value_and_both_are_stored():
    base = _data([i / 100 for i in range(100)], {"accepted": 50, "rejected": 50})
    cur = _data([0.5 + i / 200 for i in range(100)], {"accepted": 20, "rejected": 80})
    rows = {r["metric"]: r for r in evaluate(base, cur)}
    for metric in ("score_distribution", "category_mix"):
        row = rows[metric]
        assert row["p_value_adjusted"] >= row["p_value"] and row["status"] == "drift"
    # exactly two tests in the family: the smaller p is doubled, the larger kept (but never below the smaller)
    ps = sorted((rows[m]["p_value"], rows[m]["p_value_adjusted"]) for m in ("score_distribution", "category_mix"))
    assert ps[0][1] == pytest.approx(min(1, 2 * ps[0][0])) and ps[1][1] == pytest.approx(max(ps[0][1], ps[1][0]))


def test_pooling_sums_counts_and_joins_values():
    a = PartitionData(scores=[0.1], categories={"accepted": 1}, vocabulary={"x": 2}, payload_schema={("k", "f", "s")})
    b = PartitionData(scores=[0.2, 0.3], categories={"accepted": 2, "rejected": 1}, vocabulary={"x": 1, "y": 1})
    p = pool([a, b])
    assert p.scores == [0.1, 0.2, 0.3] and p.categories == {"accepted": 3, "rejected": 1}
    assert p.vocabulary == {"x": 3, "y": 1} and p.payload_schema == {("k", "f", "s")}
    assert a.categories == {"accepted": 1}  # inputs untouched


@pytest.mark.parametrize("case", ["one_row_days", "new_category", "identical_scores"])
def test_awkward_days_give_a_status_and_never_crash(case):
    if case == "one_row_days":
        base, cur = _data([0.4], {"accepted": 1}), _data([0.9], {"rejected": 1})
    elif case == "new_category":
        base = _data([0.5] * 40, {"accepted": 40})
        cur = _data([0.5] * 40, {"accepted": 20, "needs_human_review": 20})
    else:
        base, cur = _data([0.7] * 30, {"accepted": 30}), _data([0.7] * 30, {"accepted": 30})
    rows = {r["metric"]: r for r in evaluate(base, cur)}
    assert set(rows) == {"score_distribution", "category_mix"}
    for row in rows.values():
        assert row["status"] in ("ok", "warn", "drift") and math.isfinite(row["value"])
        assert row["p_value"] is None or 0 <= row["p_value"] <= row["p_value_adjusted"] <= 1
    if case == "one_row_days":  # a one-row day cannot be significant: never a drift alarm
        assert {r["status"] for r in rows.values()} == {"ok"}
    if case == "new_category":  # a category the baseline never saw is the drift
        assert rows["category_mix"]["status"] == "drift"
        assert json.loads(rows["category_mix"]["details"])["current"]["needs_human_review"] == 20
    if case == "identical_scores":
        assert rows["score_distribution"]["value"] == 0 and rows["score_distribution"]["status"] == "ok"


def test_nan_scores_are_refused_before_any_statistic():
    with pytest.raises(ValueError, match="not a finite score"):
        evaluate(_data([0.5, float("nan")], {"accepted": 2}), _data([0.5, 0.5], {"accepted": 2}))


def _scores(version: str, rows: list[tuple[str, float, str]]) -> pl.DataFrame:
    return pl.DataFrame({"evidence_id": [r[0] for r in rows], "score": [r[1] for r in rows],
                         "category": [r[2] for r in rows], "scorer_version": [version] * len(rows)})


def test_scorer_drift_compares_the_newest_version_with_the_one_before_on_shared_evidence():
    old = [(f"e{i}", 0.8, "accepted") for i in range(20)]
    new = [(f"e{i}", 0.8 if i < 15 else 0.3, "accepted" if i < 15 else "rejected") for i in range(19)]
    new.append(("only-new", 0.5, "partially_accepted"))
    frame = pl.concat([_scores("1.9.0", old), _scores("1.10.0", new), _scores("0.1.0", old)])
    rows, info = scorer_drift(frame)
    assert (info["old_version"], info["new_version"]) == ("1.9.0", "1.10.0")  # numeric order, not text
    assert (info["shared"], info["only_old"], info["only_new"]) == (19, 1, 1)
    by = {r["metric"]: r for r in rows}
    flips = by["scorer_category_flips"]
    assert flips["value"] == pytest.approx(4 / 19) and flips["status"] == "drift"
    assert json.loads(flips["details"])["confusion"] == {"accepted": {"accepted": 15, "rejected": 4}}
    shift = json.loads(by["scorer_score_shift"]["details"])
    assert [c["evidence_id"] for c in shift["largest_changes"]] == ["e15", "e16", "e17", "e18"]
    assert by["scorer_score_shift"]["value"] == pytest.approx(4 * 0.5 / 19)
    same, _ = scorer_drift(pl.concat([_scores("1.0.0", old), _scores("1.1.0", old)]))
    assert {r["status"] for r in same} == {"ok"} and {r["value"] for r in same} == {0.0}
    assert scorer_drift(_scores("1.0.0", old)) == ([], {})
    assert version_key("2.0.0") > version_key("1.10.0") > version_key("1.9.0")
