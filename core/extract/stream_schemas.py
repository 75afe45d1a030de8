"""Known JSONL stream schemas: the evidence kind each maps to and the fields it must have.

A line with an unknown ``schema`` is generic ``event`` evidence, not a reject. A line
with a known schema that breaks its rules is a ``schema_violation`` reject whose detail
names the field, so the producer can be fixed.
"""

from __future__ import annotations

from collections.abc import Callable

KIND_BY_SCHEMA = {
    "session.iterate.v1": "session",
    "replay_run.v1": "replay_run",
    "review_finding.v1": "review_finding",
    "audit_scorecard.v1": "audit_score",
}

SESSION_OUTCOMES = {"success", "max_iter_exhausted", "infra_error"}
VERDICTS = {"accept", "reject"}
SEVERITIES = {"BLOCK", "WARN", "INFO"}
DISPOSITIONS = {"fixed", "dismissed", "deferred", "accepted", "open"}


def _is_str(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _is_num(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _session(rec: dict) -> str | None:
    if not _is_str(rec.get("session_id")):
        return "session_id must be a non-empty string"
    if rec.get("outcome") not in SESSION_OUTCOMES:
        return f"outcome must be one of {sorted(SESSION_OUTCOMES)}, got {rec.get('outcome')!r}"
    attempts = rec.get("attempts", [])
    if not isinstance(attempts, list):
        return "attempts must be a list"
    for i, attempt in enumerate(attempts):
        if not isinstance(attempt, dict) or not isinstance(attempt.get("n"), int) or isinstance(attempt.get("n"), bool):
            return f"attempts[{i}] must be an object with an integer n"
        if attempt.get("verdict") not in VERDICTS:
            return f"attempts[{i}].verdict must be one of {sorted(VERDICTS)}"
    if "grounded_in_roster" in rec and not isinstance(rec["grounded_in_roster"], bool):
        return "grounded_in_roster must be a boolean"
    return None


def _replay(rec: dict) -> str | None:
    for field in ("run_id", "task_id"):
        if not _is_str(rec.get(field)):
            return f"{field} must be a non-empty string"
    retrieval = rec.get("retrieval")
    if retrieval is not None and not isinstance(retrieval, dict):
        return "retrieval must be an object"
    return None


def _review(rec: dict) -> str | None:
    if not _is_str(rec.get("review")):
        return "review must be a non-empty string"
    if rec.get("severity") not in SEVERITIES:
        return f"severity must be one of {sorted(SEVERITIES)}, got {rec.get('severity')!r}"
    if "disposition" in rec and rec["disposition"] not in DISPOSITIONS:
        return f"disposition must be one of {sorted(DISPOSITIONS)}"
    return None


def _audit(rec: dict) -> str | None:
    scores = rec.get("scores")
    if not isinstance(scores, dict) or not scores or not all(_is_num(v) for v in scores.values()):
        return "scores must be a non-empty object of numbers"
    if not _is_num(rec.get("total")) or not _is_num(rec.get("max")):
        return "total and max must be numbers"
    if rec["total"] > rec["max"]:
        return f"total {rec['total']} exceeds max {rec['max']}"
    return None


VALIDATORS: dict[str, Callable[[dict], str | None]] = {
    "session.iterate.v1": _session,
    "replay_run.v1": _replay,
    "review_finding.v1": _review,
    "audit_scorecard.v1": _audit,
}
