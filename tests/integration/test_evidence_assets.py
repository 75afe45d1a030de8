"""evidence/records + evidence/rejects through main_job, with all checks."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS
from core.corpus import generate, write_corpus
from core.lake import read_partitions
from tests.helpers import check_count, check_results, commit_files, init_repo, materialize_all, write_sources

START = dt.date(2026, 11, 16)


def _materialize_days(instance, lake_root, sources_file, source, days):
    for day in days:
        result = materialize_all(instance, lake_root, sources_file, source, day)
        checks = check_results(result)
        assert result.success, day
        assert len(checks) == check_count() and all(checks.values()), (day, checks)


def test_faults_corpus_is_fully_accounted_and_every_fault_quarantined(tmp_path, instance, lake_root):
    write_corpus(generate(3, 10, seed=4, faults=True), tmp_path / "kb")
    sources = write_sources(tmp_path / "sources.toml", {"kb": {"kind": "jsonl", "path": "kb"}})
    _materialize_days(instance, lake_root, sources, "kb", [START + dt.timedelta(days=i) for i in range(3)])
    rejects = read_partitions(str(lake_root), EVIDENCE_REJECTS)
    records = read_partitions(str(lake_root), EVIDENCE_RECORDS)
    got = {(p, o): r for p, o, r in rejects.select("path", "line_offset", "reason").iter_rows()}
    manifest = json.loads((tmp_path / "kb" / "faults.json").read_text())
    for fault in manifest:
        where = (fault["file"], fault["line_offset"])
        if fault["reason"] is None:
            assert where not in got, fault
            assert records.filter((pl.col("path") == where[0]) & (pl.col("line_offset") == where[1])).height == 1
        else:
            assert got.get(where) == fault["reason"], fault
    every_line = sum(len(p.read_bytes().split(b"\n")) for p in (tmp_path / "kb").glob("*.jsonl"))
    # each file ends with a newline except faults.jsonl (torn tail): lines = newline-split parts minus the empties
    assert records.height + rejects.height == every_line - (len(list((tmp_path / "kb").glob("*.jsonl"))) - 1)
    assert records.filter(pl.col("line_offset") == 0).height >= 6  # 0 is a real offset in every file
    assert set(records["kind"].unique().to_list()) == {"session", "replay_run", "review_finding", "audit_score",
                                                       "event"}
    excerpt = rejects.filter(pl.col("reason") == "oversize")["raw_excerpt"][0]
    assert len(excerpt) == 200


def test_git_next_day_reuses_unchanged_files(tmp_path, instance, lake_root):
    repo = init_repo(tmp_path / "repo")
    files = {f"pkg/m{i}.py": f'"""Module {i}."""\n\ndef f{i}(x):\n    return x\n'.encode() for i in range(20)}
    files["README.md"] = b"# Repo\n\n## Use\n"
    commit_files(repo, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), files)
    commit_files(repo, dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC), {"pkg/m3.py": b"def changed():\n    pass\n"})
    sources = write_sources(tmp_path / "sources.toml", {"repo": {"kind": "git", "path": "repo"}})
    first = materialize_all(instance, lake_root, sources, "repo", dt.date(2024, 3, 1))
    second = materialize_all(instance, lake_root, sources, "repo", dt.date(2024, 3, 2))
    assert all(check_results(first).values()) and all(check_results(second).values())  # incl. deterministic
    assert len(check_results(second)) == check_count()

    def receipt(result):
        mat = next(e.event_specific_data.materialization for e in result.get_asset_materialization_events()
                   if e.event_specific_data.materialization.asset_key.path == ["evidence", "records"])
        return mat.metadata["receipt"].value

    assert receipt(first)["files_reused"] == 0 and receipt(first)["files_extracted"] == 21
    assert receipt(second)["files_reused"] == 20 and receipt(second)["files_extracted"] == 1
    day1 = read_partitions(str(lake_root), EVIDENCE_RECORDS, [("repo", dt.date(2024, 3, 1))])
    day2 = read_partitions(str(lake_root), EVIDENCE_RECORDS, [("repo", dt.date(2024, 3, 2))])
    unchanged = day1.filter(pl.col("path") != "pkg/m3.py")["evidence_id"].sort().to_list()
    assert unchanged == day2.filter(pl.col("path") != "pkg/m3.py")["evidence_id"].sort().to_list()
    assert day2.filter(pl.col("payload").str.contains('"qualified_name":"pkg.m3.changed"')).height == 1


_CHILD = """
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from core.content_hash import content_hash
from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS
from core.evidence import build_evidence
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig
store = ObjectStore(sys.argv[3])
day = dt.date(2026, 11, 16)
snap = take_snapshot(SourceConfig("kb", "jsonl", Path(sys.argv[2])), day, store, today=day)
ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
print(json.dumps([content_hash(ev.records, EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile),
                  content_hash(ev.rejects, EVIDENCE_REJECTS.key, EVIDENCE_REJECTS.volatile), ev.records.height]))
"""


def test_evidence_is_identical_across_timezone_locale_and_hash_seed(tmp_path):
    write_corpus(generate(1, 20, seed=9, faults=True), tmp_path / "kb")
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for i, env in enumerate([{"TZ": "Asia/Kolkata", "PYTHONHASHSEED": "1", "LC_ALL": "C.UTF-8"},
                             {"TZ": "America/Anchorage", "PYTHONHASHSEED": "2", "LC_ALL": "C"}]):
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(root), str(tmp_path / "kb"), str(tmp_path / f"l{i}")],
                              capture_output=True, text=True, env={**os.environ, **env}, check=False)
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1] and outputs[0][2] > 20
