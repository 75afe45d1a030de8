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


class RecordingResponder:
    """A real responder that remembers whether it was asked."""

    name = "recording"

    def __init__(self):
        self.calls = 0
        self.inner = ExtractiveResponder()

    def respond(self, query, items):
        self.calls += 1
        return self.inner.respond(query, items)


def test_a_task_with_no_searchable_words_is_invalid_and_the_responder_is_not_asked():
    """Issue 16 case 7, authored side: "what does f do" is stop words and one letter."""
    import polars as pl

    from core.search import SearchIndex

    part = {"source": ["s"], "day": [dt.date(2026, 1, 1)]}
    index = SearchIndex(pl.DataFrame({"term": ["lake"], "evidence_id": ["e" * 64], "tf": [1], **part}),
                        pl.DataFrame({"evidence_id": ["e" * 64], "kind": ["section"], "path": ["a.md"], "line": [0],
                                      "title": ["Lake"], "snippet": ["lake"], "doc_len": [1], **part}),
                        pl.DataFrame({"term": ["lake"], "df": [1]}), [("s", dt.date(2026, 1, 1))])
    responder = RecordingResponder()
    row = replay_task({"task_id": "b" * 64, "query": "what does f do", "expected_ids": ["e" * 64]}, index,
                      responder, Budgets())
    assert row["outcome"] == "invalid_task" and "no searchable words" in row["detail"]
    assert responder.calls == 0 and row["retrieved_ids"] == [] and not row["grounded"]


def test_derived_tasks_never_have_a_query_without_searchable_words():
    """Issue 16 case 7, derived side: a symbol named `f` gives no "where is f defined" task."""
    import polars as pl

    from core.replay import derive_tasks
    from core.tokenize import query_terms

    symbols = pl.DataFrame({"symbol_id": ["@s/m.f", "@s/m.checksum"], "kind": ["function", "function"],
                            "name": ["f", "checksum"], "qualified_name": ["m.f", "m.checksum"],
                            "doc": ["Do it.", "Sum the bytes."],
                            "evidence_id": ["1" * 64, "2" * 64]})
    sections = pl.DataFrame({"section_id": ["x" * 64], "path": ["a.md"], "heading": ["A"], "heading_path": [["A"]],
                             "line_start": [0], "evidence_id": ["3" * 64]})
    tasks = derive_tasks(symbols, sections)
    assert tasks and all(query_terms(t["query"]) for t in tasks)  # heading "A" gives none either
    assert {t["reference"] for t in tasks} == {"@s/m.checksum"}


def _symbols(rows):
    import polars as pl

    cols = ("symbol_id", "qualified_name", "name", "kind", "doc")
    frame = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
    frame["evidence_id"] = [f"{i:064x}" for i in range(len(rows))]
    return pl.DataFrame(frame, schema={**{c: pl.Utf8 for c in cols}, "evidence_id": pl.Utf8})


NO_SECTIONS = {"section_id": [], "path": [], "heading": [], "heading_path": [], "line_start": [], "evidence_id": []}


def test_derived_tasks_have_one_right_answer_each():
    """Issue 11: a shared name is asked by qualified name; a qualified name defined twice, a dunder or a shared
    docstring gives no task; "what does" queries are the docstring's words, never the name."""
    import polars as pl

    from core.replay import derive_tasks

    symbols = _symbols([
        ("@s/a.decode", "a.decode", "decode", "function", "Turn the wire bytes into a message object."),
        ("@s/b.Codec.decode", "b.Codec.decode", "decode", "method", "Return self."),
        ("@s/c.raw_checksum", "c.raw_checksum", "raw_checksum", "function", "Return self."),
        ("@s/c.twice", "c.twice", "twice", "function", None),
        ("@s/c.twice#2", "c.twice", "twice", "function", None),  # if/else: two definitions, no single answer
        ("@s/c.K.__init__", "c.K.__init__", "__init__", "method", "Build the keyed record store."),
        ("@s/c", "c", "c", "module", None),
    ])
    sections = pl.DataFrame({"section_id": ["1" * 64, "2" * 64, "3" * 64], "path": ["a.md", "b.md", "b.md"],
                             "heading": ["Install", "Install", "Upgrade"],
                             "heading_path": [["Install"], ["Install"], ["Guide", "Upgrade"]],
                             "line_start": [0, 0, 9], "evidence_id": ["7" * 64, "8" * 64, "9" * 64]})
    tasks = {(t["origin"], t["query"]): t["reference"] for t in derive_tasks(symbols, sections)}
    assert tasks == {
        ("derived_symbol_where", "where is a.decode defined"): "@s/a.decode",
        ("derived_symbol_where", "where is b.Codec.decode defined"): "@s/b.Codec.decode",
        ("derived_symbol_where", "where is raw_checksum defined"): "@s/c.raw_checksum",
        ("derived_symbol_what", "Turn the wire bytes into a message object."): "@s/a.decode",
        ("derived_section", "Guide Upgrade"): "b.md:10",
    }


def test_no_symbols_and_no_sections_derive_nothing():
    import polars as pl

    from core.replay import derive_tasks

    assert derive_tasks(_symbols([]), pl.DataFrame(NO_SECTIONS, schema={
        "section_id": pl.Utf8, "path": pl.Utf8, "heading": pl.Utf8, "heading_path": pl.List(pl.Utf8),
        "line_start": pl.Int64, "evidence_id": pl.Utf8})) == []
