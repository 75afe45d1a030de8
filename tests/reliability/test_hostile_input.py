"""Hostile input: a 200 MB line, control characters and '..' in records, FIFO and /dev/zero as sources."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.sources import SourceConfigError, load_sources

ROOT = Path(__file__).resolve().parents[2]

_BIG_LINE = """
import datetime as dt, json, resource, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from core.evidence import build_evidence
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig
folder, lake = Path(sys.argv[2]), sys.argv[3]
day = dt.date(2026, 11, 16)
store = ObjectStore(lake)
snap = take_snapshot(SourceConfig("kb", "jsonl", folder), day, store, today=day)
ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
print(json.dumps({"rejects": ev.rejects.select("line_offset", "reason").rows(), "records": ev.records.height,
                  "excerpt": len(ev.rejects["raw_excerpt"][0]),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_a_200_mb_line_is_rejected_with_bounded_memory(tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    with (folder / "big.jsonl").open("wb") as handle:
        handle.write(b'{"ts":"2026-11-16T01:00:00Z","n":1}\n')
        handle.write(b'{"ts":"2026-11-16T02:00:00Z","blob":"')
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            handle.write(chunk)
        handle.write(b'"}\n{"ts":"2026-11-16T03:00:00Z","n":3}\n')
    proc = subprocess.run([sys.executable, "-c", _BIG_LINE, str(ROOT), str(folder), str(tmp_path / "lake")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["rejects"] == [[1, "oversize"]] and result["records"] == 2 and result["excerpt"] == 200
    # the file is held once or twice (read + stored slice) plus the process: far from unbounded
    assert result["peak_mb"] < 1200, result["peak_mb"]


def test_control_characters_and_dotdot_in_records_are_just_data(tmp_path):
    import datetime as dt

    from core.evidence import build_evidence
    from core.objects import ObjectStore
    from core.snapshot import take_snapshot
    from core.sources import SourceConfig

    folder = tmp_path / "kb"
    folder.mkdir()
    record = {"ts": "2026-11-16T01:00:00Z", "path": "../../../etc/passwd", "name": "a\u0000b\u001b[31m\u202e",
              "source_file": "..\\..\\boot.ini"}
    (folder / "s.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    store = ObjectStore(str(tmp_path / "lake"))
    day = dt.date(2026, 11, 16)
    snap = take_snapshot(SourceConfig("kb", "jsonl", folder), day, store, today=day)
    ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
    assert ev.rejects.height == 0 and ev.records.height == 1
    row = ev.records.row(0, named=True)
    assert row["path"] == "s.jsonl"  # provenance is the real file, never a path taken from the record
    assert json.loads(row["payload"]) == record  # kept exactly, control characters escaped in canonical JSON
    assert "\\u0000" in row["payload"] and "\x00" not in row["payload"]
    assert not (tmp_path / "etc").exists()


@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_a_source_that_is_a_fifo_or_dev_zero_is_a_clear_config_error(tmp_path, kind):
    target = tmp_path / "pipe"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target = Path("/dev/zero")
    file = tmp_path / "sources.toml"
    file.write_text(f'[sources.x]\nkind = "tree"\npath = "{target}"\n')
    with pytest.raises(SourceConfigError, match=r"source 'x': path is not a directory"):
        load_sources(file)
