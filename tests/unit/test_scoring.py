"""Scorer: rubric results, bad payloads, the ungrounded invariant, scorer errors."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import core.scoring as scoring
from core.scoring import score_record

GOOD_SESSION = {"outcome": "success", "attempts": [{"n": 1, "verdict": "accept"}], "grounded_in_roster": True,
                "response": "Candidate W-1", "prompt": "fill"}


def test_session_rubric():
    first_shot = score_record("session", GOOD_SESSION)
    assert (first_shot.category, first_shot.score, first_shot.reasons) == ("accepted", 1.0, ["first_shot"])
    retried = score_record("session", {**GOOD_SESSION, "attempts": [
        {"n": 1, "verdict": "reject", "error": {"Schema": {}}}, {"n": 2, "verdict": "accept"}]})
    assert retried.category == "partially_accepted" and retried.features["error_kinds"] == ["Schema"]
    exhausted = score_record("session", {**GOOD_SESSION, "outcome": "max_iter_exhausted"})
    assert exhausted.category == "rejected" and "max_iter_exhausted" in exhausted.reasons
    infra = score_record("session", {"outcome": "infra_error", "attempts": []})
    assert infra.category == "rejected" and infra.score == 0.0


def test_review_section_symbol_rubrics():
    fixed = score_record("review_finding", {"severity": "BLOCK", "reviewers": ["a", "b"], "disposition": "fixed"})
    assert fixed.category == "accepted" and fixed.reasons == ["fixed", "convergent"]
    assert score_record("review_finding", {"severity": "INFO", "disposition": "dismissed"}).category == "rejected"
    section = {"heading": "Use", "heading_path": ["Use"], "text": "## Use\n" + "words " * 20}
    assert score_record("section", section).category == "accepted"
    dup = score_record("section", section, {"duplicate_content": True})
    assert dup.category != "accepted" and "duplicate" in dup.reasons
    symbol = {"qualified_name": "m.f", "line_start": 3, "line_end": 9, "doc": "Do it."}
    assert score_record("symbol", symbol).category == "accepted"
    assert score_record("symbol", {**symbol, "doc": None}).reasons == ["undocumented"]
    assert score_record("symbol", symbol, {"syntax_error": True}).category == "rejected"
    assert score_record("metric", {"lines": 3}) is None and score_record("diagnostic", {}) is None


@pytest.mark.parametrize(("kind", "payload", "reason"), [
    ("session", {}, "missing:outcome"),
    ("session", {"outcome": 3}, "bad_type:outcome"),
    ("session", {"outcome": "success", "attempts": "three"}, "bad_type:attempts"),
    ("session", {"outcome": "won"}, "unknown:outcome"),
    ("session", {**GOOD_SESSION, "grounded_in_roster": "yes"}, "bad_type:grounded_in_roster"),
    ("session", {**GOOD_SESSION, "response": ""}, "empty_response"),
    ("review_finding", {"severity": ""}, "unknown:severity"),
    ("review_finding", {"severity": "WARN", "reviewers": "x"}, "bad_type:reviewers"),
    ("section", {"text": "x" * 300_000, "heading_path": []}, "too_long:text"),
    ("section", {"text": None}, "missing:text"),
    ("symbol", {"qualified_name": "a", "line_start": True, "line_end": 2}, "bad_type:line_start"),
    ("symbol", {"qualified_name": "a", "line_start": 0, "line_end": 2, "doc": 5}, "bad_type:doc"),
    ("audit_score", {"total": 3, "max": 0}, "bad_value:max"),
    ("replay_run", {"validation": []}, "bad_type:validation"),
    ("event", {"schema": "x"}, "no_rubric:event"),
    ("martian", {"x": 1}, "no_rubric:martian"),
    ("session", ["not", "a", "dict"], "bad_type:payload"),
])
def test_bad_payloads_go_to_a_human_with_a_reason(kind, payload, reason):
    result = score_record(kind, payload)
    assert result.category == "needs_human_review" and reason in result.reasons


def test_a_crashing_rubric_is_a_scorer_error_never_accepted(monkeypatch):
    def broken(payload, ctx):
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(scoring.RUBRICS, "session", broken)
    result = score_record("session", GOOD_SESSION)
    assert result.category == "needs_human_review" and result.reasons[0] == "scorer_error"


def test_a_rubric_returning_nonsense_is_caught(monkeypatch):
    monkeypatch.setitem(scoring.RUBRICS, "session", lambda p, c: scoring.Score(7.0, "accepted"))
    assert score_record("session", GOOD_SESSION).reasons == ["scorer_error", "out_of_range"]


sessions = st.fixed_dictionaries({
    "outcome": st.sampled_from(["success", "max_iter_exhausted", "infra_error", "other", 1]),
    "attempts": st.lists(st.fixed_dictionaries({"n": st.integers(1, 5),
                                                "verdict": st.sampled_from(["accept", "reject", None])}),
                         max_size=4),
    "grounded_in_roster": st.one_of(st.just(False), st.none(), st.just(0), st.just("")),
    "response": st.text(max_size=20),
})


@given(sessions)
def test_an_ungrounded_session_is_never_accepted(payload):
    assert score_record("session", payload).category != "accepted"


@given(sessions)
def test_scores_are_deterministic_and_in_range(payload):
    a, b = score_record("session", payload), score_record("session", dict(payload))
    assert a == b and 0.0 <= a.score <= 1.0


def _reference_context(kinds: list[str], paths: list[str], payloads: list[object]) -> list[dict]:
    """The per-row rubric context as scorer 1.0.0 defined it in Python: the spec context_frame must meet."""
    from collections import Counter

    content = Counter(p.get("content_hash") for k, p in zip(kinds, payloads, strict=True)
                      if k == "section" and isinstance(p, dict))
    names = Counter(p.get("qualified_name") for k, p in zip(kinds, payloads, strict=True)
                    if k == "symbol" and isinstance(p, dict))
    diagnostics: Counter[str] = Counter()
    syntax: set[str] = set()
    for k, path, p in zip(kinds, paths, payloads, strict=True):
        if k == "diagnostic":
            diagnostics[path] += 1
            if isinstance(p, dict) and p.get("code") == "syntax_error":
                syntax.add(path)
    out = []
    for k, path, p in zip(kinds, paths, payloads, strict=True):
        ctx = {"file_diagnostics": diagnostics[path], "syntax_error": path in syntax}
        if isinstance(p, dict):
            ctx["duplicate_content"] = k == "section" and content[p.get("content_hash")] > 1
            ctx["duplicate_name"] = k == "symbol" and names[p.get("qualified_name")] > 1
        out.append(ctx)
    return out


_NAMES = st.sampled_from(["a.f", "a.g", "b.\u00e9", 'q"x', None])
_PAYLOADS = st.one_of(
    st.fixed_dictionaries({}, optional={"content_hash": st.sampled_from(["h1", "h2", None]), "qualified_name": _NAMES,
                                        "code": st.sampled_from(["syntax_error", "E501", None]),
                                        "nested": st.fixed_dictionaries({"qualified_name": _NAMES})}),
    st.lists(st.integers(-5, 5), max_size=2), st.sampled_from(["text", 3, None]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["section", "symbol", "diagnostic", "metric", "session"]),
                          st.sampled_from(["x.py", "y.md", "z.py"]), _PAYLOADS), max_size=25))
def test_the_polars_context_is_the_per_row_reference(rows):
    """Duplicates, missing and null keys, non-object payloads, nested look-alikes: the same context per row."""
    import polars as pl

    from core.canonical import canonical_text
    from core.distill import context_frame

    frame = pl.DataFrame({"kind": [r[0] for r in rows], "path": [r[1] for r in rows],
                          "payload": [canonical_text(r[2]) for r in rows]}, schema={c: pl.Utf8 for c in
                                                                                   ("kind", "path", "payload")})
    got = context_frame(frame).to_dicts()
    expected = _reference_context([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    for row, want in zip(got, expected, strict=True):
        assert row["file_diagnostics"] == want["file_diagnostics"] and row["syntax_error"] == want["syntax_error"]
        if "duplicate_content" in want:  # the rubric context of an object payload
            assert (row["duplicate_content"], row["duplicate_name"]) == (want["duplicate_content"],
                                                                          want["duplicate_name"])


_SAMPLED_NAMES = st.sampled_from(["a.f", "a.g", "b.\u00e9", 'q"x', "3", "true", "_p", "a", None, 3, 3.0, True, ["a.f"]])
_SAMPLED_PAYLOADS = st.one_of(
    st.fixed_dictionaries({}, optional={
        "content_hash": st.sampled_from(["h1", "h2", None, 1, "h\\1"]), "qualified_name": _SAMPLED_NAMES,
        "code": st.sampled_from(["syntax_error", "E501", None]), "text": st.sampled_from(["a.f", "h1 a.g", "x"]),
        "nested": st.fixed_dictionaries({"qualified_name": _SAMPLED_NAMES})}),
    st.lists(st.integers(-5, 5), max_size=2), st.sampled_from(["text", 3, None]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["section", "symbol", "diagnostic", "metric", "session"]),
                          st.sampled_from(["x.py", "y.md", "z.py", "w.py"]), _SAMPLED_PAYLOADS), max_size=25),
       st.sets(st.integers(0, 24), max_size=10))
@example(rows=[("symbol", "x.py", {"qualified_name": "true"}), ("symbol", "z.py", {"qualified_name": True})],
         picked={0})  # the string "true" and the literal true have the same matched text
@example(rows=[("symbol", "x.py", {"qualified_name": "a.f"}), ("symbol", "z.py", {"qualified_name": None}),
               ("symbol", "y.md", {"nested": {"qualified_name": "a.f"}}), ("symbol", "w.py", {"text": "a.f"})],
         picked={1})  # a null name groups with every missing one
def test_scores_of_a_sample_are_the_rows_a_full_build_gives_them(rows, picked):
    """The sampled check scores some records with only the rows their context reads: the same scores as the
    whole partition's, with look-alike keys, non-string, escaped, missing and null names and hashes."""
    import datetime as dt

    import polars as pl

    from core.canonical import canonical_text
    from core.distill import build_scores, context_frame, context_rows

    records = pl.DataFrame({"evidence_id": [f"e{i:03d}" for i in range(len(rows))], "kind": [r[0] for r in rows],
                            "path": [r[1] for r in rows], "payload": [canonical_text(r[2]) for r in rows]},
                           schema={c: pl.Utf8 for c in ("evidence_id", "kind", "path", "payload")})
    only = {f"e{i:03d}" for i in picked if i < len(rows)}
    day = dt.date(2026, 12, 2)
    chosen = pl.col("evidence_id").is_in(sorted(only))
    ids = pl.Series(sorted(only), dtype=pl.Utf8)
    assert context_frame(context_rows(records, ids)).filter(chosen).equals(context_frame(records).filter(chosen))
    whole = build_scores(records, "s", day)
    sampled = build_scores(records, "s", day, only=only)
    assert sampled.equals(whole.filter(chosen))
