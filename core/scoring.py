"""Deterministic, versioned scorer: one rubric per evidence kind → score, category, reasons, features.

Invariants (tested): the same payload always gets the same result; an ungrounded session is
never ``accepted``; a rubric that meets a missing field, a wrong type or an unknown kind
says ``needs_human_review`` with a reason; a rubric that raises gives ``needs_human_review``
with ``scorer_error`` and never fails the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

SCORER = "evidence_lake.rubric"
SCORER_VERSION = "1.0.0"
CATEGORIES = ("accepted", "partially_accepted", "rejected", "needs_human_review")
NOT_SCORED = ("metric", "diagnostic", "edge")  # measurements about files and links, not examples to learn from
MAX_TEXT = 200_000  # a longer string is not plausible training text


@dataclass
class Score:
    score: float
    category: str
    reasons: list[str] = field(default_factory=list)
    features: dict = field(default_factory=dict)


class _Review(Exception):
    """A payload problem that sends the record to a human, with a reason code."""


def _need(payload: dict, key: str, kind: type | tuple[type, ...]):
    """The value of ``key``, or a _Review saying it is missing or of the wrong type (bool is not a number)."""
    value = payload.get(key)
    if value is None:
        raise _Review(f"missing:{key}")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _Review(f"bad_type:{key}")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise _Review(f"too_long:{key}")
    return value


def _clamp(x: float) -> float:
    return round(min(1.0, max(0.0, x)), 6)


def _session(p: dict, ctx: dict) -> Score:
    outcome = _need(p, "outcome", str)
    attempts = _need(p, "attempts", list) if "attempts" in p else []
    grounded = p.get("grounded_in_roster", False)
    if not isinstance(grounded, bool):
        raise _Review("bad_type:grounded_in_roster")
    verdicts = [a.get("verdict") for a in attempts if isinstance(a, dict)]
    error_kinds = sorted({k for a in attempts if isinstance(a, dict) and isinstance(a.get("error"), dict)
                          for k in a["error"]})
    first_shot = outcome == "success" and verdicts == ["accept"]
    features = {"outcome": outcome, "attempts": len(attempts), "first_shot": first_shot, "grounded": grounded,
                "error_kinds": error_kinds, "has_response": bool(str(p.get("response") or "").strip())}
    base = {"success": 0.6, "max_iter_exhausted": 0.1, "infra_error": 0.0}.get(outcome)
    if base is None:
        raise _Review("unknown:outcome")
    score = base + (0.25 if first_shot else 0.0) - 0.1 * min(max(len(attempts) - 1, 0), 2) + (0.15 if grounded else 0)
    reasons = ["first_shot"] if first_shot else []
    if outcome != "success":
        return Score(_clamp(score), "rejected", [*reasons, outcome], features)
    if not grounded:  # invariant: an ungrounded session is never accepted
        return Score(_clamp(score), "needs_human_review", [*reasons, "ungrounded"], features)
    if not features["has_response"]:
        return Score(_clamp(score), "needs_human_review", [*reasons, "empty_response"], features)
    category = "accepted" if score >= 0.8 else "partially_accepted"
    return Score(_clamp(score), category, reasons + ([] if first_shot else ["retried"]), features)


_SEVERITY = {"BLOCK": 1.0, "WARN": 0.6, "INFO": 0.3}


def _review_finding(p: dict, ctx: dict) -> Score:
    severity = _need(p, "severity", str)
    if severity not in _SEVERITY:
        raise _Review("unknown:severity")
    reviewers = p.get("reviewers") or ([p["reviewer"]] if isinstance(p.get("reviewer"), str) else [])
    if not isinstance(reviewers, list):
        raise _Review("bad_type:reviewers")
    convergent = len(set(map(str, reviewers))) > 1
    disposition = p.get("disposition", "open")
    features = {"severity": severity, "reviewers": len(reviewers), "convergent": convergent,
                "disposition": disposition}
    score = _clamp(0.5 * _SEVERITY[severity] + (0.3 if convergent else 0.0) + (0.2 if disposition == "fixed" else 0))
    if disposition == "fixed":
        return Score(score, "accepted", ["fixed", *(["convergent"] if convergent else [])], features)
    if disposition == "dismissed":
        return Score(score, "rejected", ["dismissed"], features)
    return Score(score, "partially_accepted" if convergent else "needs_human_review", [str(disposition)], features)


def _section(p: dict, ctx: dict) -> Score:
    text = _need(p, "text", str)
    _need(p, "heading_path", list)
    body = text.split("\n", 1)[1] if "\n" in text else ""
    chars = len(body.strip())
    dup = ctx.get("duplicate_content", False)
    diag = ctx.get("file_diagnostics", 0)
    features = {"chars": chars, "duplicate": dup, "file_diagnostics": diag, "level": p.get("level")}
    reasons = []
    score = 0.5 + (0.3 if 40 <= chars <= 4000 else 0.0) + (0.2 if p.get("heading") else 0.0)
    if chars < 40:
        reasons.append("too_short")
    if chars > 4000:
        reasons.append("too_long")
    if dup:
        score -= 0.4
        reasons.append("duplicate")
    if diag:
        score -= 0.1
        reasons.append("file_has_diagnostics")
    score = _clamp(score)
    category = "accepted" if score >= 0.8 else "partially_accepted" if score >= 0.5 else "rejected"
    return Score(score, category, reasons, features)


def _symbol(p: dict, ctx: dict) -> Score:
    qual = _need(p, "qualified_name", str)
    start, end = _need(p, "line_start", int), _need(p, "line_end", int)
    doc = p.get("doc")
    if doc is not None and not isinstance(doc, str):
        raise _Review("bad_type:doc")
    span = end - start
    syntax = ctx.get("syntax_error", False)
    features = {"documented": bool(doc), "lines": span, "duplicate": ctx.get("duplicate_name", False),
                "syntax_error": syntax, "symbol_kind": p.get("symbol_kind")}
    if syntax:
        return Score(0.0, "rejected", ["syntax_error_in_file"], features)
    reasons = [] if doc else ["undocumented"]
    score = 0.3 + (0.5 if doc else 0.0) + (0.2 if 1 <= span <= 200 else 0.0)
    if span > 200:
        reasons.append("too_long")
    if features["duplicate"]:
        score -= 0.3
        reasons.append("duplicate_name")
    score = _clamp(score)
    category = "accepted" if score >= 0.8 else "partially_accepted" if score >= 0.5 else "rejected"
    if qual.rsplit(".", 1)[-1].startswith("_") and category == "accepted":
        category, reasons = "partially_accepted", [*reasons, "private"]
    return Score(score, category, reasons, features)


def _replay_run(p: dict, ctx: dict) -> Score:
    validation = p.get("validation", {})
    if not isinstance(validation, dict):
        raise _Review("bad_type:validation")
    ok = validation.get("ok")
    if not isinstance(ok, bool):
        raise _Review("missing:validation.ok")
    return Score(1.0 if ok else 0.0, "accepted" if ok else "rejected", ["valid" if ok else "invalid"], {"ok": ok})


def _audit(p: dict, ctx: dict) -> Score:
    total, top = _need(p, "total", (int, float)), _need(p, "max", (int, float))
    if top <= 0:
        raise _Review("bad_value:max")
    ratio = _clamp(total / top)
    category = "accepted" if ratio >= 0.7 else "partially_accepted" if ratio >= 0.5 else "rejected"
    return Score(ratio, category, [], {"total": total, "max": top})


RUBRICS: dict[str, Callable[[dict, dict], Score]] = {
    "session": _session,
    "review_finding": _review_finding,
    "section": _section,
    "symbol": _symbol,
    "replay_run": _replay_run,
    "audit_score": _audit,
}


def score_record(kind: str, payload: object, context: dict | None = None) -> Score | None:
    """Score one evidence record; None for kinds that are not scored (metrics, diagnostics)."""
    if kind in NOT_SCORED:
        return None
    rubric = RUBRICS.get(kind)
    if rubric is None:
        return Score(0.0, "needs_human_review", [f"no_rubric:{kind}"], {})
    if not isinstance(payload, dict):
        return Score(0.0, "needs_human_review", ["bad_type:payload"], {})
    try:
        result = rubric(payload, context or {})
    except _Review as problem:
        return Score(0.0, "needs_human_review", [str(problem)], {})
    except Exception as exc:  # a scorer bug must never produce 'accepted' or fail the run
        return Score(0.0, "needs_human_review", ["scorer_error", type(exc).__name__], {})
    if result.category not in CATEGORIES or not (0.0 <= result.score <= 1.0):
        return Score(0.0, "needs_human_review", ["scorer_error", "out_of_range"], {})
    return result
