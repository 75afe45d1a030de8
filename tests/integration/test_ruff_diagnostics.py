"""Lint diagnostics from a real ruff over snapshot files (issue 11), and the ways ruff or a file can fail."""

import datetime as dt
import json
import stat

import polars as pl

from core.accounting import account
from core.evidence import build_evidence
from core.extract.base import EXTRACTOR_VERSIONS
from core.extract.ruff_lint import RULES, find_ruff
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 30)


def _tree(tmp_path):
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "ok.py").write_text("import os\n\n\ndef f(x):\n    if x == None:\n        return 1\n")
    (root / "bad.py").write_text("def broken(:\n    pass\n")
    (root / "noqa.py").write_text("".join(f"import mod{i}  # noqa\n" for i in range(200)) + "import json\n")
    (root / "big.py").write_text("x = 0\n" + "".join(f"# line {i}\n" for i in range(100_000)) + "import sys\n")
    (root / "latin1.py").write_bytes("# caf\xe9\nimport os\n".encode("latin-1"))
    (root / "pkg" / "__init__.py").write_text("from .mod import g\nfrom .... import too_far\n")
    (root / "pkg" / "mod.py").write_text("from __future__ import annotations\nfrom typing import *\n\n\n"
                                         "def g():\n    return undefined_name\n")
    (root / "notes.md").write_text("# Notes\n" + "x" * 250 + "   \n")
    return root


def _build(tmp_path, root, prior=None):
    store = ObjectStore(str(tmp_path / "lake"))
    snap = take_snapshot(SourceConfig("s", "tree", root, max_file_bytes=50_000_000), DAY, store, today=DAY)
    return snap.files, build_evidence("s", "tree", DAY, snap.files, store, "ts", NOW, prior)


def _lint(records: pl.DataFrame) -> pl.DataFrame:
    return records.filter((pl.col("extractor") == "ruff_diagnostics") & (pl.col("kind") == "diagnostic")) \
        .with_columns(pl.col("payload").str.json_path_match("$.code").alias("code"))


def test_ruff_findings_become_diagnostics_and_every_python_file_says_it_was_linted(tmp_path):
    files, result = _build(tmp_path, _tree(tmp_path))
    lint = _lint(result.records)
    by_file = {p: sorted(set(c)) for p, c in lint.group_by("path").agg("code").iter_rows()}
    assert by_file["ok.py"] == ["E711", "F401"]
    assert by_file["noqa.py"] == ["F401"] and lint.filter(pl.col("path") == "noqa.py").height == 1  # noqa honoured
    assert by_file["big.py"] == ["E402", "F401"]  # 100k lines, linted within budget
    assert by_file["pkg/mod.py"] == ["F403", "F405"]  # `from typing import *`, then a name it may not define
    assert "bad.py" not in by_file  # ruff's syntax error is not repeated: the ast diagnostic reports it
    syntax = result.records.filter((pl.col("path") == "bad.py") & (pl.col("kind") == "diagnostic"))
    assert json.loads(syntax["payload"][0])["code"] == "syntax_error" and syntax.height == 1
    f401 = json.loads(lint.filter((pl.col("path") == "ok.py") & (pl.col("code") == "F401"))["payload"][0])
    assert f401 == {"code": "F401", "rule": "unused-import", "message": "`os` imported but unused", "line": 0,
                    "column": 8, "end_line": 0, "end_column": 10, "severity": "warning", "fix_available": True,
                    "fix_applicability": "safe", "tool": "ruff"}
    summaries = result.records.filter((pl.col("extractor") == "ruff_diagnostics") & (pl.col("kind") == "metric"))
    assert sorted(summaries["path"].to_list()) == ["bad.py", "big.py", "noqa.py", "ok.py", "pkg/__init__.py",
                                                   "pkg/mod.py"]
    ok_summary = json.loads(summaries.filter(pl.col("path") == "ok.py")["payload"][0])
    assert ok_summary["findings"] == 2 and ok_summary["rules"] == list(RULES)
    assert result.rejects.filter(pl.col("path") == "latin1.py")["reason"].to_list() == ["binary"]  # not UTF-8
    notes = result.records.filter((pl.col("path") == "notes.md") & (pl.col("kind") == "diagnostic"))
    assert sorted(json.loads(p)["code"] for p in notes["payload"]) == ["long_line", "trailing_whitespace"]
    assert account("tree", files, result.records, result.rejects)["problems"] == []
    assert result.receipt["extractor_versions"]["ruff_diagnostics"].startswith("1.0.0+ruff0.")


def test_import_edges_of_the_tree(tmp_path):
    _, result = _build(tmp_path, _tree(tmp_path))
    edges = [json.loads(p) for p in result.records.filter(pl.col("kind") == "edge")["payload"]]
    pairs = {(e["importer"], e["module"], e["name"]) for e in edges}
    assert ("pkg", "pkg.mod", "g") in pairs and ("pkg", None, "too_far") in pairs
    assert ("pkg.mod", "typing", "*") in pairs and ("ok", "os", None) in pairs
    assert sum(1 for e in edges if e["importer"] == "noqa") == 201
    assert result.records["evidence_id"].n_unique() == result.records.height


def test_a_missing_ruff_is_a_named_reject_per_file_and_the_other_extractors_still_run(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_LAKE_RUFF", str(tmp_path / "no-such-ruff"))
    root = _tree(tmp_path)
    try:
        files, result = _build(tmp_path, root)
        errors = result.rejects.filter(pl.col("reason") == "extractor_error")
        assert sorted(errors["path"].to_list()) == ["bad.py", "big.py", "noqa.py", "ok.py", "pkg/__init__.py",
                                                    "pkg/mod.py"]
        assert all("ruff is not installed" in d and "EVIDENCE_LAKE_RUFF" in d for d in errors["detail"])
        assert result.records.filter(pl.col("extractor") == "ruff_diagnostics").height == 0
        assert result.records.filter((pl.col("path") == "ok.py") & (pl.col("kind") == "symbol")).height == 2
        assert EXTRACTOR_VERSIONS["ruff_diagnostics"].endswith(find_ruff().extractor_version.split("+", 1)[1])
        assert "-missing" in EXTRACTOR_VERSIONS["ruff_diagnostics"]
        assert account("tree", files, result.records, result.rejects)["problems"] == []
    finally:
        monkeypatch.delenv("EVIDENCE_LAKE_RUFF")
        find_ruff()
    _, again = _build(tmp_path, root, prior=result.records)  # ruff is back: unlinted files are redone
    assert again.receipt["files_extracted"] == 6 and again.receipt["files_reused"] == 1  # notes.md only
    assert _lint(again.records).height > 0


def test_a_ruff_that_hangs_on_one_file_costs_only_that_file(tmp_path, monkeypatch):
    import core.extract.ruff_lint as ruff_lint

    real = find_ruff().binary
    fake = tmp_path / "slow-ruff"
    fake.write_text(f"#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *big.py) sleep 30;; esac; done\n"
                    f"exec {real} \"$@\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("EVIDENCE_LAKE_RUFF", str(fake))
    monkeypatch.setattr(ruff_lint, "BATCH_TIMEOUT_S", 3.0)
    monkeypatch.setattr(ruff_lint, "FILE_TIMEOUT_S", 3.0)
    try:
        _, result = _build(tmp_path, _tree(tmp_path))
    finally:
        monkeypatch.delenv("EVIDENCE_LAKE_RUFF")
        find_ruff()
    errors = result.rejects.filter(pl.col("reason") == "extractor_error")
    assert errors["path"].to_list() == ["big.py"] and "ruff timed out after 3 s" in errors["detail"][0]
    assert sorted(set(_lint(result.records)["path"].to_list())) == ["noqa.py", "ok.py", "pkg/__init__.py",
                                                                   "pkg/mod.py"]


def test_lint_evidence_is_the_same_bytes_in_another_timezone(tmp_path, monkeypatch):
    from core.content_hash import content_hash
    from core.contracts import EVIDENCE_RECORDS

    monkeypatch.setenv("TZ", "UTC")
    _, first = _build(tmp_path / "a", _tree(tmp_path / "a"))
    monkeypatch.setenv("TZ", "Asia/Kathmandu")
    _, second = _build(tmp_path / "b", _tree(tmp_path / "b"))
    key, vol = EVIDENCE_RECORDS.key, EVIDENCE_RECORDS.volatile
    assert _lint(second.records).height > 0
    assert content_hash(first.records, key, vol) == content_hash(second.records, key, vol)


def test_a_tmpfs_too_small_for_the_copy_sends_it_to_the_temporary_directory(tmp_path, monkeypatch):
    """ruff's scratch copy goes to tmpfs first; a full one (ENOSPC: a container's 64 MB /dev/shm) is left,
    cleaned, for the temporary directory, with the same findings."""
    import errno

    import core.extract.ruff_lint as ruff_lint

    root = _tree(tmp_path)
    files = [(p.relative_to(root).as_posix(), p.read_bytes()) for p in sorted(root.rglob("*.py"))]
    real_parents = ruff_lint.scratch_parents
    monkeypatch.setattr(ruff_lint, "scratch_parents", lambda: [None])
    expected = ruff_lint.lint(files)
    assert expected.findings["ok.py"] and not expected.errors

    small = tmp_path / "small-tmpfs"
    small.mkdir()
    monkeypatch.setattr(ruff_lint, "SCRATCH_TMPFS", small)
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(ruff_lint, "scratch_parents", real_parents)
    assert real_parents() == [str(small), None]
    real_place, placed_in = ruff_lint.place, []

    def place(scratch, path, data):
        placed_in.append(scratch.parent)
        if scratch.parent == small.resolve() and len(placed_in) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_place(scratch, path, data)

    monkeypatch.setattr(ruff_lint, "place", place)
    got = ruff_lint.lint(files)
    assert small.resolve() in placed_in and placed_in[-1] != small.resolve()  # began in tmpfs, ended elsewhere
    assert list(small.iterdir()) == []  # the partial copy was removed
    assert got.findings == expected.findings and got.errors == expected.errors
