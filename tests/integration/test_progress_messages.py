"""Long steps say how far they are in the step's log (core.progress), as a Dagster user reads it in the UI.

The interval is 0 and the batches tiny here, so a small kb day logs what a million-line day logs
every ten seconds: lines extracted, documents indexed and the phase after, records scored, and a
big write announced before it starts.
"""

import datetime as dt
import uuid

import dagster as dg

from core import distill, indexing
from core.corpus import generate, write_corpus
from core.progress import PROGRESS_ENV
from core.snapshot import utc_today
from io_managers import delta
from resources.run_watch import STATUS_CHARS, RunStatus, RunWatch
from tests.helpers import check_results, materialize_all, write_sources

DAY = dt.date(2026, 11, 16)


def _messages(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """The run's log lines by step."""
    out: dict[str, list[str]] = {}
    for entry in instance.all_logs(run_id):
        if entry.step_key and not entry.is_dagster_event:
            out.setdefault(entry.step_key, []).append(entry.user_message)
    return out


def test_a_kb_day_logs_progress_of_its_long_steps(tmp_path, monkeypatch):
    write_corpus(generate(1, 60, seed=5, start=DAY), tmp_path / "kb")
    lines = sum(p.read_bytes().count(b"\n") for p in (tmp_path / "kb").glob("*.jsonl"))
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": str(tmp_path / "kb")}})
    monkeypatch.setenv(PROGRESS_ENV, "0")
    monkeypatch.setattr(indexing, "TOKENISE_CHUNK_DOCS", 16)
    monkeypatch.setattr(distill, "CHUNK_ROWS", 8)  # a count after each chunk scored
    monkeypatch.setattr(delta, "ANNOUNCED_WRITE_ROWS", 50)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_all(instance, tmp_path / "lake", sources, "kb", DAY)
        assert result.success and all(check_results(result).values()), check_results(result)
        said = _messages(instance, result.run_id)
    extracted = [m for m in said["evidence"] if m.startswith("extracted ")]
    assert extracted, said["evidence"]
    assert all(f" of {lines:,} lines (" in m and " lines/s" in m for m in extracted), extracted
    counts = [int(m.split(" ")[1].replace(",", "")) for m in extracted]
    assert counts == sorted(counts) and 0 < counts[-1] < lines  # the last file's chunk ends the work: no message
    indexed = said["indexes"]
    assert any(m.startswith("indexed ") and " documents (" in m and "about" in m for m in indexed), indexed
    assert any(m.startswith("all ") and "documents tokenised; putting" in m and "postings in term order" in m
               for m in indexed), indexed
    assert any(m.startswith("writing ") and "rows to index/terms (kb 2026-11-16)" in m for m in said["indexes"])
    assert any(m.startswith("scored ") and " records (" in m for m in said["distill"]), said["distill"]


def test_a_bad_interval_fails_the_step_with_what_to_set(tmp_path, monkeypatch):
    write_corpus(generate(1, 5, seed=5, start=DAY), tmp_path / "kb")
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": str(tmp_path / "kb")}})
    monkeypatch.setenv(PROGRESS_ENV, "often")
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_all(instance, tmp_path / "lake", sources, "kb", DAY)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "evidence"
    error = failure.step_failure_data.error
    assert f"{PROGRESS_ENV}='often': use a number of seconds" in error.cause.message


def test_a_tree_source_counts_files(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(5):
        (tree / f"m{i}.py").write_text(f'"""Module {i}."""\n\n\ndef f{i}():\n    return {i}\n')
    sources = write_sources(tmp_path / "sources.toml", {"t": {"kind": "tree", "path": str(tree)}})
    monkeypatch.setenv(PROGRESS_ENV, "0")
    today = utc_today()  # a tree has no history: only today's partition
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize_all(instance, tmp_path / "lake", sources, "t", today)
        assert result.success
        said = _messages(instance, result.run_id)
    extracted = [m for m in said["evidence"] if m.startswith("extracted ")]
    assert [m.split(",")[0] for m in extracted] == [f"extracted {i} of 5 files ({i * 20}%)" for i in range(1, 5)]


def test_the_cli_status_follows_the_run_step_by_step(tmp_path, monkeypatch):
    """RunWatch reads a run's records while it runs (as `evidence-lake run` shows them beside its bar); folded
    a record at a time, the status names each step in run order with the progress line it logged."""
    write_corpus(generate(1, 60, seed=5, start=DAY), tmp_path / "kb")
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": str(tmp_path / "kb")}})
    monkeypatch.setenv(PROGRESS_ENV, "0")
    monkeypatch.setattr(indexing, "TOKENISE_CHUNK_DOCS", 16)
    run_id = str(uuid.uuid4())
    shown: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        nowhere = RunWatch(instance, str(uuid.uuid4()), shown.append)
        nowhere.poll()  # a run that does not exist (yet): nothing to show, nothing raised
        assert shown == []
        with RunWatch(instance, run_id, shown.append, every_s=0.02):
            result = materialize_all(instance, tmp_path / "lake", sources, "kb", DAY, run_id=run_id)
        assert result.success
        records = instance.get_records_for_run(run_id).records
    starts = [r.event_log_entry.dagster_event.step_key for r in records
              if r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type
              == dg.DagsterEventType.STEP_START]
    assert shown and all(s.split(":")[0] in starts for s in shown), shown
    seen = [starts.index(s.split(":")[0]) for s in shown]
    assert seen == sorted(seen), shown  # the display never goes back to an earlier step
    status, texts = RunStatus(), []
    for record in records:
        status.fold([record])
        if status.text() and (not texts or texts[-1] != status.text()):
            texts.append(status.text())
    assert shown[-1] == texts[-1] == starts[-1]  # the last poll shows where the run ended
    assert any(t.startswith("evidence: extracted ") and " lines (" in t for t in texts), texts
    assert any(t.startswith("indexes: indexed ") and " documents (" in t for t in texts), texts
    assert [t for t in texts if ":" not in t] == [s for s in starts if s in texts]  # each step shown as it starts


def test_a_status_is_one_short_line():
    status = RunStatus()
    status.step, status.note = "indexes", "writing\n" + "x" * 300
    text = status.text()
    assert "\n" not in text and len(text) == STATUS_CHARS and text.endswith("…")
    assert text.startswith("indexes: writing xxx")
