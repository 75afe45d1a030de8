"""Same inputs, byte-identical partitions: across TZ, locale and PYTHONHASHSEED (in subprocesses)."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import commit_files, init_repo, utc_today

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import datetime as dt, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from core.content_hash import content_hash
from core.contracts import SNAPSHOT_FILES
from core.snapshot import take_snapshot
from core.sources import SourceConfig
out = {}
today = dt.date.fromisoformat(sys.argv[5])
for name, kind, path, day in [("t", "tree", sys.argv[2], today), ("g", "git", sys.argv[3], dt.date(2024, 3, 1)),
                              ("g2", "git", sys.argv[3], dt.date(2024, 3, 2)), ("j", "jsonl", sys.argv[4],
                              dt.date(2024, 3, 1))]:
    r = take_snapshot(SourceConfig(name, kind, Path(path)), day, None, today=today)
    out[name] = [r.snapshot["snapshot_id"][0], content_hash(r.files, SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile),
                 r.files["path"].to_list(), r.files["line_offsets"].to_list()]
print(json.dumps(out))
"""


def _snapshot_in(env_overrides: dict[str, str], tree: Path, repo: Path, kb: Path, today: dt.date) -> dict:
    env = {**os.environ, **env_overrides}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(tree), str(repo), str(kb), today.isoformat()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_snapshot_ids_do_not_depend_on_timezone_locale_or_hash_seed(tmp_path):
    tree = tmp_path / "tree"
    (tree / "Ünïcode dir").mkdir(parents=True)
    for i, name in enumerate(["b.md", "A.md", "a.md", "Ünïcode dir/🎉.txt", "z z.py", "日本.md"]):
        (tree / name).write_bytes(f"# {i}\r\n{name}\n".encode())
    repo = init_repo(tmp_path / "repo")
    # 23:30 UTC on 1 March is already 2 March in Kolkata and still 1 March in Anchorage.
    commit_files(repo, dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC), {"x.md": b"late\n", "set/b": b"1"})
    commit_files(repo, dt.datetime(2024, 3, 2, 0, 30, tzinfo=dt.UTC), {"y.md": b"next\n"})
    kb = tmp_path / "kb"
    kb.mkdir()
    # line 0: local date 1 March, UTC 2 March; line 1: local date 2 March, UTC 1 March
    (kb / "s.jsonl").write_bytes(b'{"ts":"2024-03-01T23:30:00-02:00"}\n{"ts":"2024-03-02T04:00:00+05:30"}\n')
    today = utc_today()
    variants = [
        {"TZ": "Asia/Kolkata", "PYTHONHASHSEED": "1", "LC_ALL": "C.UTF-8"},
        {"TZ": "America/Anchorage", "PYTHONHASHSEED": "2", "LC_ALL": "C"},
        {"TZ": "UTC", "PYTHONHASHSEED": "random", "LANG": "C.UTF-8"},
    ]
    results = [_snapshot_in(v, tree, repo, kb, today) for v in variants]
    assert results[0] == results[1] == results[2]
    first = results[0]
    assert "y.md" not in first["g"][2] and "x.md" in first["g"][2]  # the UTC day decides, not local time
    assert "y.md" in first["g2"][2]
    assert first["j"][3] == [[1]]  # only the line whose UTC day is 1 March
    assert len({first[k][0] for k in first}) == 4
