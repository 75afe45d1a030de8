"""The pool one step leaves warm for the next (core.pool.WARM): reused, never stale, never left behind."""

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

import core.pool as pool_module
from core.pool import WARM, in_order
from tests.helpers import pool_pids, wait_gone

MARK = "EVIDENCE_LAKE_WARM_POOL_TEST_MARK"


def _pids_and_marks(n: int = 6) -> tuple[set[int], set]:
    """Worker pids and what each worker sees of MARK, over ``n`` tasks that each hold a worker a moment."""
    with tempfile.TemporaryDirectory() as folder:
        pids = pool_pids(2, n, Path(folder) / "met")
    marks = set(in_order(os.getenv, [(MARK,)] * n, 2, keep_warm=True))
    return pids, marks


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.fixture
def warm(monkeypatch):
    """A fresh warm pool for the test, shut down after it."""
    WARM.close()
    monkeypatch.delenv(MARK, raising=False)
    yield WARM
    WARM.close()


def test_a_second_user_gets_the_same_workers_and_an_idle_pool_is_shut_down(warm, monkeypatch):
    monkeypatch.setattr(pool_module, "KEEP_WARM_S", 1.0)
    first, _ = _pids_and_marks()
    assert len(first) == 2 and os.getpid() not in first
    assert warm.ready() == 2
    second, _ = _pids_and_marks()
    assert second == first  # no new worker started
    assert wait_gone(first, 15), "an idle warm pool outlived its timeout"
    assert warm.ready() == 0


def test_a_changed_environment_gets_new_workers_that_see_it(warm):
    before, marks = _pids_and_marks()
    assert marks == {None}
    os.environ[MARK] = "changed"
    try:
        assert warm.ready() == 0  # workers spawned before the change would not see it
        after, marks = _pids_and_marks()
    finally:
        del os.environ[MARK]
    assert marks == {"changed"} and not (after & before)
    assert wait_gone(before, 20), "the stale pool's workers were left running"


def test_a_user_that_stops_early_leaves_no_pool_with_queued_work(warm):
    results = in_order(_pid_after, [(0.2,)] * 8, 2, keep_warm=True)
    first = next(results)
    results.close()  # six tasks still queued or running
    assert warm.ready() == 0 and warm.pool is None
    assert wait_gone({first}, 20)


def test_a_warm_worker_killed_between_uses_costs_nothing_but_a_new_pool(warm, caplog):
    pids, _ = _pids_and_marks()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert wait_gone(pids, 20)
    time.sleep(0.5)  # the pool's manager thread has seen the deaths: the first submit itself raises
    # the broken pool's tasks run here, in order, the one whose submit raised too; the next user gets new workers
    with caplog.at_level("WARNING", logger="core.pool"):
        assert list(in_order(abs, [(-i,) for i in range(5)], 2, keep_warm=True)) == [0, 1, 2, 3, 4]
    (said,) = [r.getMessage() for r in caplog.records if r.name == "core.pool"]
    assert "warm pool worker of 2 died" in said and "run in this process" in said, said
    again, _ = _pids_and_marks()
    assert len(again) == 2 and not (again & pids)


def _child_with_a_warm_pool(keep_s: float) -> None:
    pool_module.KEEP_WARM_S = keep_s
    assert list(in_order(abs, [(-1,), (-2,), (-3,)], 2, keep_warm=True)) == [1, 2, 3]
    assert WARM.ready() == 2  # returns with the pool warm and idle


def test_a_process_made_by_multiprocessing_exits_without_waiting_for_its_idle_warm_pool():
    """multiprocessing joins a process's children when it exits; the warm pool is closed first, not after
    its idle timeout (a parallel CLI worker that ran a large partition)."""
    import multiprocessing

    child = multiprocessing.get_context("spawn").Process(target=_child_with_a_warm_pool, args=(600.0,))
    child.start()
    child.join(timeout=60)  # the pool alone would hold it 600 s
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0


STARTED = "EVIDENCE_LAKE_WARM_POOL_TEST_STARTED"  # a folder each prestarted worker leaves its pid in


def _note_start() -> None:
    folder = os.environ[STARTED]
    with open(os.path.join(folder, str(os.getpid())), "w"):
        pass


def _started(folder, count: int, seconds: float = 30.0) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = {int(p.name) for p in folder.iterdir()}
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    return {int(p.name) for p in folder.iterdir()}


def test_a_prestarted_pool_starts_every_worker_before_any_use_and_the_next_user_gets_them(warm, monkeypatch,
                                                                                          tmp_path):
    monkeypatch.setenv(STARTED, str(tmp_path))
    assert warm.prestart(2, _note_start)
    started = _started(tmp_path, 2)  # nothing borrowed the pool yet: both workers ran the initializer
    assert len(started) == 2 and os.getpid() not in started
    assert not warm.prestart(2, _note_start)  # warm already: nothing new starts
    pids, _ = _pids_and_marks()
    assert pids == started
    assert {int(p.name) for p in tmp_path.iterdir()} == started


def test_a_pool_is_not_prestarted_for_one_worker_nor_while_it_is_in_use(warm, monkeypatch, tmp_path):
    monkeypatch.setenv(STARTED, str(tmp_path))
    assert not warm.prestart(1, _note_start) and warm.pool is None
    results = in_order(_pid_after, [(0.2,)] * 4, 2, keep_warm=True)
    first = next(results)  # the pool is borrowed while the generator is open
    assert not warm.prestart(2, _note_start)
    rest = list(results)
    assert len(rest) == 3 and os.getpid() not in {first, *rest}
    assert not list(tmp_path.iterdir())  # no worker ran the initializer


def test_an_unused_prestarted_pool_is_shut_down(warm, monkeypatch, tmp_path):
    monkeypatch.setenv(STARTED, str(tmp_path))
    monkeypatch.setattr(pool_module, "PRESTART_HOLD_S", 1.0)
    assert warm.prestart(2, _note_start)
    started = _started(tmp_path, 2)
    assert len(started) == 2
    assert wait_gone(started, 15), "a prestarted pool nobody used outlived its hold"
    assert warm.ready() == 0
