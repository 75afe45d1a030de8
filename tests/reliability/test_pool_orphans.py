"""Pool workers die with the process that made them (core.pool), busy or idle."""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.helpers import process_alive, wait_gone

ROOT = Path(__file__).resolve().parents[2]

# Makes a two-worker pool, one busy for 10 min and one idle after a quick task, prints their pids,
# then SIGKILLs itself: what an OOM kill or a killed parallel CLI worker does mid-extraction.
OWNER = textwrap.dedent("""
    import os, signal, sys, time, multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from core.pool import spawn_pool

    if __name__ == "__main__":
        if sys.argv[1] == "watched":
            pool = spawn_pool(2)
        else:
            pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
        busy = pool.submit(time.sleep, 600)
        while not busy.running():
            time.sleep(0.01)
        pool.submit(abs, -1).result()  # the second worker did this and now waits for work
        print(" ".join(str(pid) for pid in pool._processes), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _kill_owner(tmp_path: Path, kind: str) -> tuple[list[int], subprocess.Popen]:
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = subprocess.Popen([sys.executable, str(script), kind], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = owner.stdout.readline()
    assert owner.wait(timeout=60) == -signal.SIGKILL, owner.stderr.read()
    workers = [int(pid) for pid in line.split()]
    assert len(workers) == 2, line
    return workers, owner


def test_busy_and_idle_workers_exit_when_their_parent_is_killed(tmp_path):
    workers, owner = _kill_owner(tmp_path, "watched")
    assert wait_gone(workers, 20), f"orphaned pool workers still running: {workers}"
    owner.communicate(timeout=10)  # nothing holds the dead owner's output open any more


def test_a_stock_spawn_pool_orphan_waits_for_ever(tmp_path):
    """Why core.pool exists: the same kill leaves a plain ProcessPoolExecutor's workers running."""
    workers, _ = _kill_owner(tmp_path, "stock")
    try:
        time.sleep(2)  # ten times what a watched worker needs
        assert all(map(process_alive, workers)), workers
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
