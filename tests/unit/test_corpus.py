"""gen-corpus: deterministic, realistic, and honest about the faults it injects."""

import json

from core.corpus import generate, write_corpus


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    write_corpus(generate(3, 12, seed=5), tmp_path / "a")
    write_corpus(generate(3, 12, seed=5), tmp_path / "b")
    write_corpus(generate(3, 12, seed=6), tmp_path / "c")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["audits.jsonl", "events.jsonl", "replay_runs.jsonl", "reviews.jsonl", "sessions.jsonl"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "sessions.jsonl").read_bytes() != (tmp_path / "c" / "sessions.jsonl").read_bytes()


def test_sessions_cover_the_analytic_targets():
    corpus = generate(7, 40, seed=1)
    sessions = [json.loads(line) for line in corpus.files["sessions.jsonl"]]
    outcomes = {s["outcome"] for s in sessions}
    assert outcomes == {"success", "max_iter_exhausted", "infra_error"}
    first_shot = [s for s in sessions if s["outcome"] == "success" and len(s["attempts"]) == 1]
    three_rejects = [s for s in sessions if [a["verdict"] for a in s["attempts"]] == ["reject"] * 3]
    ungrounded_success = [s for s in sessions if s["outcome"] == "success" and not s["grounded_in_roster"]]
    assert first_shot and three_rejects and ungrounded_success
    dispositions = {json.loads(line)["disposition"] for line in corpus.files["reviews.jsonl"]}
    assert dispositions == {"fixed", "dismissed", "deferred"}
    tasks = {}
    for s in sessions:
        tasks.setdefault(s["task_id"], set()).add(s["outcome"])
    assert any(len(v) > 1 for v in tasks.values())  # same task, different outcomes: preference pairs


def test_faults_are_listed_with_their_expected_reasons(tmp_path):
    corpus = generate(1, 3, seed=2, faults=True)
    write_corpus(corpus, tmp_path)
    manifest = json.loads((tmp_path / "faults.json").read_text())
    reasons = {f["reason"] for f in manifest if f["reason"]}
    assert reasons >= {"malformed_json", "torn_tail", "invalid_utf8", "oversize", "non_finite_number",
                       "missing_event_time", "bad_event_time", "not_an_object", "duplicate", "too_deep",
                       "schema_violation"}
    lines = corpus.files["faults.jsonl"]
    assert not lines[-1].endswith(b"\n")  # the torn tail really is torn
    assert lines[0].startswith(b"\xef\xbb\xbf") and lines[0].endswith(b"\r\n")


def test_drift_shifts_outcomes_from_the_given_day():
    calm = generate(6, 60, seed=3)
    drift = generate(6, 60, seed=3, drift_from=3)

    def success_rate(corpus, days):
        rows = [json.loads(line) for line in corpus.files["sessions.jsonl"]]
        picked = [r for r in rows if int(r["ts"][8:10]) - 16 in days]
        return sum(r["outcome"] == "success" for r in picked) / len(picked)

    assert abs(success_rate(calm, {0, 1, 2}) - success_rate(drift, {0, 1, 2})) < 1e-9
    assert success_rate(drift, {3, 4, 5}) < success_rate(calm, {3, 4, 5}) - 0.15
