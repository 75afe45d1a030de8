"""Spawn process pools whose workers exit when the process that made them dies.

A ``ProcessPoolExecutor`` worker waits on its call queue, and with spawn it holds that queue's
write end itself, so it never sees EOF: when its parent is SIGKILLed (OOM killer, a killed
run or parallel CLI worker) it waits for ever, holding the parent's stdout and memory.
Each worker here starts a daemon thread that exits the process once its parent is gone.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TypeVar

PARENT_POLL_S = 0.2  # how soon an orphaned worker exits
R = TypeVar("R")
log = logging.getLogger(__name__)


def workers_setting() -> int:
    """``EVIDENCE_LAKE_WORKERS`` (default: the machine's cores; 1 turns every pool off)."""
    raw = os.environ.get("EVIDENCE_LAKE_WORKERS", "").strip()
    if not raw:
        return os.cpu_count() or 1
    value = int(raw) if raw.isdigit() else 0
    if value < 1:
        raise ValueError(f"EVIDENCE_LAKE_WORKERS={raw!r}: use a whole number of processes (1 turns the pool off)")
    return value


def pool_size(units: int, cold_min: int, warm_min: int) -> int:
    """Processes to spread ``units`` of work over: the pool's (``workers_setting``) from ``cold_min`` units, or
    from ``warm_min`` when the warm pool an earlier step left (``WARM``) is idle with as many workers, so no
    worker has to start; else 1 (the caller's own process)."""
    workers = workers_setting()
    if workers > 1 and (units >= cold_min or (units >= warm_min and WARM.ready() == workers)):
        return workers
    return 1


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


KEEP_WARM_S = 10.0  # an idle kept-warm pool is shut down after this long
PRESTART_HOLD_S = 60.0  # a pool started ahead of its first use waits this long for it (see _WarmPool.prestart)


class _WarmPool:
    """One spawn pool kept between uses in this process, so a later step of the same run (the evidence
    check re-extracting its sample right after the evidence step) skips the workers' start (imports,
    ruff probe: about a second on 2 cores). It is shut down after ``KEEP_WARM_S`` idle, or when broken.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by the one borrower at a time
        self.pool: ProcessPoolExecutor | None = None
        self.workers = 0
        self.environ: dict[str, str] = {}  # what its workers inherited: a changed variable needs new workers
        self.timer: threading.Timer | None = None

    def _usable(self) -> bool:
        """A pool is there and its workers saw this environment (EVIDENCE_LAKE_RUFF, ...) at their spawn."""
        return self.pool is not None and self.environ == dict(os.environ)

    def ready(self) -> int:
        """Workers of the idle warm pool (0 when there is none, it is in use, or the environment changed)."""
        if not self.lock.acquire(blocking=False):
            return 0
        try:
            return self.workers if self._usable() else 0
        finally:
            self.lock.release()

    @contextmanager
    def borrowed(self, workers: int) -> Iterator[ProcessPoolExecutor]:
        """The warm pool of ``workers`` (started if there is none); a private pool while it is in use."""
        if not self.lock.acquire(blocking=False):
            with spawn_pool(workers) as pool:
                yield pool
            return
        try:
            if self.timer is not None:
                self.timer.cancel()
            if self.pool is not None and not (self._usable() and self.workers == workers):
                self._close()
            if self.pool is None:
                self.pool, self.workers, self.environ = spawn_pool(workers), workers, dict(os.environ)
            kept = False
            try:
                yield self.pool
                kept = True
            finally:
                if not kept:  # broken, or its user stopped early: work may still be queued in it
                    self._close()
            self._idle_timer(KEEP_WARM_S)
        finally:
            self.lock.release()

    def prestart(self, workers: int, initializer: Callable[[], object]) -> bool:
        """Start the pool's ``workers`` now, in the background, each running ``initializer`` (imports, probes)
        as it starts: for a step that knows a later step of this process will borrow the pool, so the
        workers' start overlaps its own work instead of delaying the borrower (the stdlib's evidence step
        waited about a second for them). False, and nothing started, when the pool is in use or warm already.

        Unused, it is shut down after ``PRESTART_HOLD_S``, like any idle warm pool after ``KEEP_WARM_S``.
        """
        if workers <= 1 or not self.lock.acquire(blocking=False):
            return False
        try:
            if self._usable() and self.workers == workers:
                return False
            self._close()
            self.pool, self.workers, self.environ = spawn_pool(workers, initializer), workers, dict(os.environ)
            for _ in range(workers):  # a spawn pool starts one process per submit while none is idle
                self.pool.submit(os.getpid)
            self._idle_timer(PRESTART_HOLD_S)
            return True
        finally:
            self.lock.release()

    def _idle_timer(self, seconds: float) -> None:
        self.timer = threading.Timer(seconds, self.close)
        self.timer.daemon = True
        self.timer.start()

    def close(self, wait: bool = False) -> None:
        """Shut the warm pool down (idle timeout, or at once); ``wait`` until its workers have exited."""
        with self.lock:
            self._close(wait)

    def _close(self, wait: bool = False) -> None:
        if self.timer is not None:
            self.timer.cancel()
        pool, self.pool, self.workers, self.environ, self.timer = self.pool, None, 0, {}, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


WARM = _WarmPool()
# closed when this process exits normally, before multiprocessing joins its children (a process made by
# multiprocessing, e.g. a parallel CLI worker, would otherwise wait on the idle workers until the timeout),
# and before the pool's own queues stop their feeder threads (priority 10), which would keep the workers
# from ever getting their stop sentinel
multiprocessing.util.Finalize(WARM, WARM.close, kwargs={"wait": True}, exitpriority=100)


def in_order(fn: Callable[..., R], tasks: Iterable[tuple], workers: int, keep_warm: bool = False) -> Iterator[R]:
    """``fn(*task)`` for each task, yielded in the tasks' order, computed in a spawn pool of ``workers``.

    A window of tasks is in flight and each result is dropped once yielded, so the caller holds a
    few results, never all of them; tasks are drawn from ``tasks`` only as the window opens. When a
    worker dies (OOM killer, a main module spawn cannot import) the tasks not yet yielded run here.
    ``fn`` must be importable by name (a module-level function). ``keep_warm`` runs them in the
    process's warm pool (``WARM``) and leaves it running for the next user.
    """
    tasks = iter(tasks)
    pending: deque[tuple[tuple, Future]] = deque()
    unsent: tuple | None = None  # drawn, its submit not yet returned (a broken pool raises there)
    try:
        with WARM.borrowed(workers) if keep_warm else spawn_pool(workers) as pool:
            window = max(2, 2 * workers)
            drawn = False  # every task submitted
            while True:
                while not drawn and len(pending) < window:
                    unsent = next(tasks, None)
                    if unsent is None:
                        drawn = True
                        break
                    pending.append((unsent, pool.submit(fn, *unsent)))
                    unsent = None
                if not pending:
                    return
                result = pending[0][1].result()
                pending.popleft()
                try:
                    yield result
                except GeneratorExit:
                    if drawn and not pending:
                        return  # the caller took the last result and stopped: the pool is idle, keep it
                    raise
                del result
    except BrokenProcessPool as exc:
        # said, not silent: the rest runs in this process, slower and with its Python objects in this process's
        # memory for the rest of the run (a worker killed by the OOM killer, a main module spawn cannot import)
        left = len(pending) + (unsent is not None)
        log.warning("a %s worker of %d died (%s); %d queued task(s) and the rest of %s run in this process",
                    "warm pool" if keep_warm else "process pool", workers, exc, left,
                    getattr(fn, "__qualname__", fn))
        for task, _ in pending:
            yield fn(*task)
        if unsent is not None:
            yield fn(*unsent)
        for task in tasks:
            yield fn(*task)
