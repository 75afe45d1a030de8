"""SIGKILL at random moments, and concurrent object puts (spawned processes, never fork).

Races of Delta writers are forced, round by round, in test_concurrent_writes.py.
"""

import datetime as dt
import hashlib
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.contracts import SNAPSHOT_FILES, SNAPSHOTS
from core.lake import read_partitions
from core.objects import ObjectStore
from tests.helpers import rows_hash

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 20)
KILLS = 12  # each kill costs a killed and a converging writer process (~2.5 s)

_WRITER = """
import datetime as dt, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from core.contracts import SNAPSHOT_FILES, SNAPSHOTS
from core.lake import write_partitions
from core.objects import ObjectStore
from core.snapshot import take_snapshot
from core.sources import SourceConfig
lake, tree, source = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
day = dt.date(2026, 11, 20)
result = take_snapshot(SourceConfig(source, "tree", tree), day, ObjectStore(lake), today=day)
write_partitions(lake, SNAPSHOT_FILES, result.files, [(source, day)])
write_partitions(lake, SNAPSHOTS, result.snapshot, [(source, day)])
print("done")
"""


def _tree(folder: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    for i in range(n):
        path = folder / f"d{i % 9}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(200, 6000)))
    return folder


def _write(lake: Path, tree: Path, source: str = "t") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(ROOT), str(lake), str(tree), source],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _objects_are_sound(lake: Path) -> int:
    """Every object file hashes to its name; returns how many there are."""
    root = lake / "objects" / "sha256"
    count = 0
    for path in root.rglob("*") if root.exists() else []:
        if path.is_file() and not path.name.startswith(".tmp-"):
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, path
            count += 1
    return count


def _hashes(lake: Path) -> tuple[str, str, int]:
    files = read_partitions(str(lake), SNAPSHOT_FILES, [("t", DAY)])
    snaps = read_partitions(str(lake), SNAPSHOTS, [("t", DAY)])
    return (rows_hash(files, SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile),
            rows_hash(snaps, SNAPSHOTS.key, SNAPSHOTS.volatile), files.height)


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_partition(tmp_path):
    tree = _tree(tmp_path / "tree", 400, seed=1)
    reference = tmp_path / "reference"
    start = time.perf_counter()
    proc = _write(reference, tree)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    duration = time.perf_counter() - start
    expected = _hashes(reference)
    assert expected[2] == 400
    rng = random.Random(20261124)
    outcomes = {"killed_before_commit": 0, "files_committed_only": 0, "finished": 0}
    for i in range(KILLS):
        lake = tmp_path / f"lake{i}"
        proc = _write(lake, tree)
        time.sleep(rng.uniform(0.05, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _objects_are_sound(lake)
        files = read_partitions(str(lake), SNAPSHOT_FILES, [("t", DAY)])
        snaps = read_partitions(str(lake), SNAPSHOTS, [("t", DAY)])
        # a partition is either absent or complete: never a part of its rows
        assert files.height in (0, 400), (i, files.height)
        if files.height:
            assert rows_hash(files, SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile) == expected[0]
        key = "finished" if snaps.height else "files_committed_only" if files.height else "killed_before_commit"
        outcomes[key] += 1
        again = _write(lake, tree)  # the next run converges to the uninterrupted result
        assert again.wait(timeout=120) == 0, again.stderr.read()
        assert _hashes(lake) == expected
        assert _objects_are_sound(lake) == len(set(read_partitions(str(lake), SNAPSHOT_FILES)["object"].to_list()))
    assert sum(outcomes.values()) == KILLS
    assert outcomes["killed_before_commit"] >= 1  # the kills did land mid-write, not only after
    print(f"SIGKILL outcomes over {KILLS} kills: {outcomes}")


def _put(args):
    sys.path.insert(0, str(ROOT))
    from core.objects import ObjectStore

    lake, payload = args
    return ObjectStore(lake).put(payload).object


def test_parallel_writes_of_the_same_object_deduplicate(tmp_path):
    lake = str(tmp_path / "lake")
    payload = os.urandom(1 << 16)
    ctx = multiprocessing.get_context("spawn")
    # close + join, not the context manager's terminate(): after an in-process Dagster run in this
    # worker, SIGTERM may be ignored (see tests/conftest.py), and terminated pool workers would hang
    pool = ctx.Pool(2)
    try:
        ids = pool.map(_put, [(lake, payload)] * 8)
    finally:
        pool.close()
        pool.join()
    assert len(set(ids)) == 1
    files = [p for p in (tmp_path / "lake" / "objects").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [ids[0]]  # one object, no temp files left behind
    assert ObjectStore(lake).get(ids[0]) == payload
    assert ids[0] == hashlib.sha256(payload).hexdigest()
