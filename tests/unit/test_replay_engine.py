"""Replay engine: budgets, bundles and every outcome."""

import datetime as dt

import pytest

from core.replay import BudgetError, Budgets, build_bundle, replay_task
from core.responders import ExtractiveResponder, ResponderError, Response
from core.search import Hit


class FakeIndex:
    """Stands in for SearchIndex (not our storage layer): returns fixed hits."""

    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k=10):
        return self.hits[:k]


def _hits(n):
    return [Hit(rank=i + 1, score=1.0 / (i + 1), evidence_id=f"{i:064x}", source="s", day=dt.date(2026, 1, 1),
                kind="section", path=f"p{i}.md", line=0, title=f"Title {i}", snippet=f"Lake fact number {i}.")
            for i in range(n)]


TASK = {"task_id": "a" * 64, "query": "lake fact", "expected_ids": [f"{1:064x}"]}


@pytest.mark.parametrize("budgets", [Budgets(max_sections=0), Budgets(max_bytes=0), Budgets(max_bytes=None),
                                     Budgets(max_expansions=-1), Budgets(max_answer_bytes=-5)])
def test_unbounded_requests_are_refused(budgets):
    with pytest.raises(BudgetError):
        build_bundle(_hits(3), budgets)


def test_bundle_respects_section_and_byte_budgets():
    items, raw = build_bundle(_hits(10), Budgets(max_sections=3))
    assert [i["ref"] for i in items] == ["E1", "E2", "E3"]
    small, raw_small = build_bundle(_hits(10), Budgets(max_bytes=300))
    assert len(raw_small) <= 300 and 0 < len(small) < 3


def test_success_miss_and_ranks():
    row = replay_task(TASK, FakeIndex(_hits(5)), ExtractiveResponder(), Budgets())
    assert (row["outcome"], row["hit_at_k"], row["reciprocal_rank"], row["grounded"]) == ("success", True, 0.5, True)
    miss = replay_task({**TASK, "expected_ids": ["f" * 64]}, FakeIndex(_hits(5)), ExtractiveResponder(), Budgets())
    assert miss["outcome"] == "miss" and miss["reciprocal_rank"] == 0.0


class Broken:
    name = "broken"

    def respond(self, query, bundle):
        raise ResponderError("HTTP 500 from test")


class Liar:
    name = "liar"

    def respond(self, query, bundle):
        return Response("made up [E9]", ["E9"])


class Verbose:
    name = "verbose"

    def respond(self, query, bundle):
        return Response("x" * 10_000 + " [E1]", ["E1"])


@pytest.mark.parametrize(("responder", "outcome"), [(Broken(), "infra_error"), (Liar(), "ungrounded"),
                                                    (Verbose(), "budget_exceeded")])
def test_failure_outcomes(responder, outcome):
    row = replay_task(TASK, FakeIndex(_hits(5)), responder, Budgets())
    assert row["outcome"] == outcome and row["detail"]
    assert row["grounded"] is (outcome == "budget_exceeded")
