"""Synthetic kb corpus: sessions, replay runs, review findings, audit scorecards, events.

Shapes follow the seed lakehouse's `data/_kb` streams (reference/seeds-digest.md §3.1).
Same arguments, same bytes: one ``random.Random(seed)``, fixed start date, no clock.
``faults=True`` injects each kind of bad input the evidence stage must quarantine and
writes ``faults.json`` (outside the ``*.jsonl`` glob) listing file, line offset and the
expected reject reason of each, so tests can check every one of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

MODELS = ("qwen3-coder", "opus-4.7", "kimi-k2-0905", "gpt-oss-120b")
KINDS = ("fill", "email", "sms")
ROLES = ("Electrician", "Assembler", "Quality Tech", "Material Handler", "Production Worker", "Forklift Driver")
SKILLS = ("OSHA-30", "first article inspection", "industrial wiring", "night shift", "bilingual", "CNC")
ERROR_KINDS = ("Schema", "Completeness", "Consistency", "Policy")
REVIEWERS = ("opus-4.7", "kimi-k2-0905", "qwen3-coder")
BUNDLES = ("c1 validatord", "c2 vectord", "c3 materializer", "c4 replay")
DIMENSIONS = ("reproducibility", "test_coverage", "trust_boundary", "memory_correctness", "deployment_readiness",
              "maintainability")
DEFAULT_START = dt.date(2026, 11, 16)


@dataclass
class Corpus:
    files: dict[str, list[bytes]] = field(default_factory=dict)  # name -> lines (with terminators)
    faults: list[dict] = field(default_factory=list)

    def add(self, name: str, line: bytes) -> int:
        lines = self.files.setdefault(name, [])
        lines.append(line)
        return len(lines) - 1


def _line(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _ts(day: dt.date, seconds: int) -> str:
    return (dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(rng: random.Random) -> dict:
    kind = rng.choice(ERROR_KINDS)
    reasons = {"Schema": {"field": rng.choice(["fingerprint", "target_count", "phone"]), "reason": "required"},
               "Completeness": {"reason": "endorsed_names exceeds target_count x 2"},
               "Consistency": {"reason": "candidate W-PHANTOM not in roster"},
               "Policy": {"reason": "SMS longer than 160 characters"}}
    return {kind: reasons[kind]}


def _session(rng: random.Random, day: dt.date, t: int, task: str, shift: float) -> dict:
    kind = rng.choice(KINDS)
    model = rng.choice(MODELS)
    role, skill = rng.choice(ROLES), rng.choice(SKILLS)
    roll = rng.random() + shift
    attempts = []
    if roll < 0.45:  # first-shot success
        attempts = [{"n": 1, "verdict": "accept"}]
        outcome = "success"
    elif roll < 0.72:  # success after one or two rejections
        fails = rng.randint(1, 2)
        attempts = [{"n": i + 1, "verdict": "reject", "error": _error(rng)} for i in range(fails)]
        attempts.append({"n": fails + 1, "verdict": "accept"})
        outcome = "success"
    elif roll < 0.90:  # three rejections in a row
        attempts = [{"n": i + 1, "verdict": "reject", "error": _error(rng)} for i in range(3)]
        outcome = "max_iter_exhausted"
    else:
        outcome = "infra_error"
    for a in attempts:
        a["raw_sha256"] = hashlib.sha256(f"{task}:{a['n']}:{rng.random()}".encode()).hexdigest()
    grounded = outcome == "success" and rng.random() > 0.06  # a few ungrounded fills: never to be accepted
    prompt = f"{kind}: find a {role} with {skill} for {task}"
    response = "" if outcome == "infra_error" else (
        f"Candidate W-{rng.randint(1000, 99999)} ({role}, {skill}); confirmed against the roster."
        if grounded else f"Candidate W-PHANTOM ({role}) looks right for {skill}.")
    rec = {"schema": "session.iterate.v1", "session_id": f"lf-{rng.getrandbits(48):012x}", "task_id": task,
           "kind": kind, "model": model, "attempts": attempts, "outcome": outcome, "grounded_in_roster": grounded,
           "prompt": prompt, "response": response, "prompt_tokens": rng.randint(300, 2500),
           "completion_tokens": rng.randint(20, 400), "ts": _ts(day, t)}
    if outcome == "infra_error":
        rec["error"] = rng.choice(["chatd: upstream timeout", "chatd: 502 from model gateway"])
    return rec


def generate(days: int, per_day: int, seed: int, faults: bool = False, start: dt.date = DEFAULT_START,
             drift_from: int | None = None) -> Corpus:
    """Build the corpus in memory. ``drift_from`` shifts outcomes and severities from that day index on."""
    if days < 1 or per_day < 1:
        raise ValueError("--days and --per-day must be at least 1")
    rng = random.Random(seed)
    corpus = Corpus()
    tasks = [f"fill:ct-{4000 + i}" for i in range(max(4, per_day // 3))]
    for d in range(days):
        day = start + dt.timedelta(days=d)
        drifting = drift_from is not None and d >= drift_from
        shift = 0.35 if drifting else 0.0
        step = 86_000 // (per_day + 1)
        for i in range(per_day):
            t = 60 + i * step
            session = _session(rng, day, t, rng.choice(tasks), shift)
            corpus.add("sessions.jsonl", _line(session))
            if i % 2 == 0:
                ids = [f"W-{rng.randint(1000, 99999)}" for _ in range(rng.randint(1, 6))]
                ok = session["outcome"] == "success" and session["grounded_in_roster"]
                corpus.add("replay_runs.jsonl", _line({
                    "schema": "replay_run.v1", "runtime": "go", "run_id": f"rr_{day:%Y%m%d}_{i:04d}",
                    "task_id": session["task_id"], "session_id": session["session_id"],
                    "retrieval": {"corpora": ["workers_500k", "playbook_memory"], "k": 8, "ids": ids,
                                  "query": session["prompt"].split(": ", 1)[1]},
                    "bundle_sha256": hashlib.sha256(f"{seed}:{d}:{i}".encode()).hexdigest(),
                    "model": session["model"], "prompt_tokens": session["prompt_tokens"],
                    "completion_tokens": session["completion_tokens"],
                    "validation": {"ok": True} if ok else {"ok": False, "error": _error(rng)},
                    "ts": _ts(day, t + 2)}))
            if i % 3 == 0:
                reviewers = rng.sample(REVIEWERS, rng.randint(1, 3))
                sev_roll = rng.random() - (0.3 if drifting else 0.0)
                severity = "BLOCK" if sev_roll < 0.2 else "WARN" if sev_roll < 0.6 else "INFO"
                corpus.add("reviews.jsonl", _line({
                    "schema": "review_finding.v1", "review": f"gauntlet-{day.isoformat()}",
                    "finding_id": f"F-{d:02d}{i:03d}", "bundle": rng.choice(BUNDLES),
                    "reviewer": reviewers[0], "reviewers": reviewers, "severity": severity,
                    "convergent": len(reviewers) > 1, "where": f"internal/{rng.choice(BUNDLES).split()[1]}/x.go:"
                    f"{rng.randint(10, 400)}", "summary": rng.choice([
                        "Refresh aborts on first per-view error", "TrimPrefix loops forever on //v1storage",
                        "unbounded retry on 5xx", "roster check skipped for sms kind"]),
                    "disposition": rng.choice(["fixed", "dismissed", "deferred"]), "ts": _ts(day, t + 5)}))
        scores = {dim: max(0, min(10, rng.randint(3, 9) - (3 if drifting else 0))) for dim in DIMENSIONS}
        corpus.add("audits.jsonl", _line({"schema": "audit_scorecard.v1", "audit": f"scrum-{day.isoformat()}",
                                          "scores": scores, "total": sum(scores.values()),
                                          "max": 10 * len(DIMENSIONS), "ts": _ts(day, 86_300)}))
        corpus.add("events.jsonl", _line({"schema": "pathway.op.v1", "op": rng.choice(["add", "revise", "retire"]),
                                          "uid": f"pt_{d:02d}", "ts": _ts(day, 30)}))
    if faults:
        _inject_faults(corpus, start)
    return corpus


def _inject_faults(corpus: Corpus, start: dt.date) -> None:
    """Append one of each bad line to faults.jsonl and damage a few files; record what to expect."""
    name = "faults.jsonl"
    good = {"schema": "pathway.op.v1", "op": "add", "uid": "pt_f", "ts": _ts(start, 100)}

    def fault(line: bytes, reason: str | None, what: str) -> None:
        offset = corpus.add(name, line)
        corpus.faults.append({"file": name, "line_offset": offset, "reason": reason, "what": what})

    # line 0: a BOM and CRLF are accepted; 0 is a real offset
    fault(b"\xef\xbb\xbf" + json.dumps(good).encode() + b"\r\n", None, "BOM + CRLF on line 0 (accepted)")
    fault(b'{"schema": "pathway.op.v1", "op": "add", "ts": \n', "malformed_json", "truncated object")
    fault(b'{"op": "add", "ts": "2026-11-16T00:02:00Z", "bad": "\xff\xfe"}\n', "invalid_utf8", "invalid UTF-8")
    fault(b'{"op": "add", "ts": "2026-11-16T00:03:00Z", "score": NaN}\n', "non_finite_number", "NaN literal")
    fault(b'{"op": "add", "ts": "2026-11-16T00:04:00Z", "score": -Infinity}\n', "non_finite_number", "Infinity")
    fault(b'{"op": "add", "note": "no time"}\n', "missing_event_time", "no ts field")
    fault(b'{"op": "add", "ts": "sometime last week"}\n', "bad_event_time", "unparsable ts")
    fault(b'[1, 2, 3]\n', "not_an_object", "array, not object")
    fault(b'"just a string"\n', "not_an_object", "string, not object")
    fault(json.dumps({"ts": _ts(start, 200), "deep": json.loads("[" * 100 + "]" * 100)}).encode() + b"\n",
          "too_deep", "100 levels of nesting")
    fault(json.dumps({"schema": "session.iterate.v1", "session_id": "lf-bad", "outcome": "exploded",
                      "ts": _ts(start, 300)}).encode() + b"\n", "schema_violation", "unknown session outcome")
    fault(json.dumps({"schema": "review_finding.v1", "review": "r", "severity": "CRITICAL",
                      "ts": _ts(start, 301)}).encode() + b"\n", "schema_violation", "unknown severity")
    dup = json.dumps({"op": "dup", "ts": _ts(start, 400)}).encode() + b"\n"
    fault(dup, None, "first copy of a duplicate line (kept)")
    fault(dup, "duplicate", "identical second copy")
    fault(b"\n", "malformed_json", "blank line")
    fault(json.dumps({"op": "big", "ts": _ts(start, 500), "blob": "x" * (1 << 20)}).encode() + b"\n", "oversize",
          "line over 1 MiB")
    fault(json.dumps({"schema": "made.up.v9", "ts": _ts(start, 600)}).encode() + b"\n", None,
          "unknown schema: generic event, not a reject")
    fault(b'{"schema": "pathway.op.v1", "op": "add", "ts": "2026-11-16T00:', "torn_tail", "torn final line")


def write_corpus(corpus: Corpus, out: Path) -> dict[str, int]:
    """Write the streams (and faults.json); return bytes per file."""
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for name, lines in sorted(corpus.files.items()):
        data = b"".join(lines)
        (out / name).write_bytes(data)
        sizes[name] = len(data)
    if corpus.faults:
        (out / "faults.json").write_text(json.dumps(corpus.faults, indent=1, sort_keys=True) + "\n")
    return sizes
