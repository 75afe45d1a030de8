"""Extraction in a spawn process pool gives the rows one process gives, in the same order (issue 15)."""

import datetime as dt
import sysconfig
from pathlib import Path

import polars as pl
import pytest

import core.file_extraction as file_extraction
from core.evidence import build_evidence
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig

DAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    tree = root / "tree"
    json_pkg = Path(sysconfig.get_paths()["stdlib"]) / "json"
    for path in sorted(json_pkg.glob("*.py")):
        (tree / "json").mkdir(parents=True, exist_ok=True)
        (tree / "json" / path.name).write_bytes(path.read_bytes())
    for i in range(30):
        (tree / f"doc{i}.md").write_text(f"# Doc {i}\n\nSee [next](doc{i + 1}.md).\n" + "long " * 60 * (i % 3) + "\n")
        (tree / f"m{i}.py").write_text(f"import os\nX{i} = {i}\n\n\ndef f{i}(a):\n    return a == None\n")
    (tree / "broken.py").write_text("def (:\n")
    (tree / "blob.bin").write_bytes(b"\x00\x01")
    store = ObjectStore(str(root / "lake"))
    snap = take_snapshot(SourceConfig("s", "tree", tree), DAY, store, today=DAY)
    return store, snap.files


def _build(store, files, monkeypatch, workers: str, chunk: int):
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", workers)
    monkeypatch.setattr(file_extraction, "CHUNK_FILES", chunk)
    monkeypatch.setattr(file_extraction, "POOL_MIN_FILES", 1)
    return build_evidence("s", "tree", DAY, files, store, "ts", NOW)


def test_two_workers_and_two_chunk_sizes_give_the_same_rows_in_the_same_order(snapshot, monkeypatch):
    store, files = snapshot
    one = _build(store, files, monkeypatch, "1", 200)
    assert one.records.height > 300 and one.receipt["files_extracted"] == files.height - 1  # all but blob.bin
    # 7-file chunks: more chunks than the pool's window, so results arrive while others wait to be sent;
    # 3-file chunks in one process: a frame per chunk, joined in order
    for workers, chunk in (("2", 7), ("2", 50), ("1", 3)):
        other = _build(store, files, monkeypatch, workers, chunk)
        assert other.records.equals(one.records) and other.rejects.equals(one.rejects), (workers, chunk)
        assert other.receipt == one.receipt


def test_a_worker_sees_the_same_ruff_and_quarantines_the_same_files(snapshot, monkeypatch):
    store, files = snapshot
    pooled = _build(store, files, monkeypatch, "2", 10)
    lint = pooled.records.filter(pl.col("extractor") == "ruff_diagnostics")
    assert lint.filter(pl.col("path") == "m3.py").height >= 3  # F401, E711 and the per-file summary
    assert pooled.rejects.filter(pl.col("path") == "blob.bin")["reason"].to_list() == ["binary"]


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_says_what_to_use(monkeypatch, value):
    monkeypatch.setenv("EVIDENCE_LAKE_WORKERS", value)
    with pytest.raises(ValueError, match="whole number of processes"):
        file_extraction.workers_setting()
