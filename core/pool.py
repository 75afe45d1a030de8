"""Spawn process pools whose workers exit when the process that made them dies.

A ``ProcessPoolExecutor`` worker waits on its call queue, and with spawn it holds that queue's
write end itself, so it never sees EOF: when its parent is SIGKILLed (OOM killer, a killed
run or parallel CLI worker) it waits for ever, holding the parent's stdout and memory.
Each worker here starts a daemon thread that exits the process once its parent is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

PARENT_POLL_S = 0.2  # how soon an orphaned worker exits
R = TypeVar("R")


def workers_setting() -> int:
    """``EVIDENCE_LAKE_WORKERS`` (default: the machine's cores; 1 turns every pool off)."""
    raw = os.environ.get("EVIDENCE_LAKE_WORKERS", "").strip()
    if not raw:
        return os.cpu_count() or 1
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        raise ValueError(f"EVIDENCE_LAKE_WORKERS={raw!r}: use a whole number of processes (1 turns the pool off)")
    return value


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:  # a new parent (init or a subreaper) means ours died
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def exit_with_parent(parent: int) -> None:
    """Exit this process (at once, no cleanup) as soon as ``parent`` is no longer its parent."""
    if os.getppid() != parent:  # the parent died while this worker started
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="parent-watch", daemon=True).start()


def _start_parent_watch(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    exit_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def spawn_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A spawn pool (never fork a process holding Dagster's threads) of workers that die with this process."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_parent_watch, initargs=(os.getpid(), initializer, initargs))


def in_order(fn: Callable[..., R], tasks: Iterable[tuple], workers: int) -> Iterator[R]:
    """``fn(*task)`` for each task, yielded in the tasks' order, computed in a spawn pool of ``workers``.

    A window of tasks is in flight and each result is dropped once yielded, so the caller holds a
    few results, never all of them; tasks are drawn from ``tasks`` only as the window opens. When a
    worker dies (OOM killer, a main module spawn cannot import) the tasks not yet yielded run here.
    ``fn`` must be importable by name (a module-level function).
    """
    tasks = iter(tasks)
    pending: deque[tuple[tuple, Future]] = deque()
    try:
        with spawn_pool(workers) as pool:
            window = max(2, 2 * workers)
            while True:
                while len(pending) < window and (task := next(tasks, None)) is not None:
                    pending.append((task, pool.submit(fn, *task)))
                if not pending:
                    return
                result = pending[0][1].result()
                pending.popleft()
                yield result
                del result
    except BrokenProcessPool:
        for task, _ in pending:
            yield fn(*task)
        for task in tasks:
            yield fn(*task)
