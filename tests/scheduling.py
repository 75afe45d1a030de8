"""The order tests are collected in, so that xdist's work stealing starts every long test early.

``--dist worksteal`` hands worker ``i`` the ``i``-th contiguous run of the collection (equal counts)
and idle workers later take unstarted tests from the tail of a busy worker's queue. A long test
that sits late in a run starts late and sets the wall time of the suite (measured: the 128 s kill
test started at 408 s of a 531 s suite while the other workers idled from 445 s on).

So the long tests (``tests/durations.json``: seconds measured under ``make test``, tests of 10 s
or more) are dealt to the runs, longest first to the run with the least long work, and each run
starts with its long tests. The other tests keep their file order, so a module's tests stay
together and a per-worker session fixture is built once. The order depends only on the collected
ids and the worker count: every worker computes the same collection, as xdist requires.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

DURATIONS = Path(__file__).with_name("durations.json")

T = TypeVar("T")


def worksteal_sizes(count: int, workers: int) -> list[int]:
    """How many tests each worker gets first: xdist's ``WorkStealingScheduling`` split of ``count``."""
    sizes, left = [], count
    for i in range(workers):
        size = left // (workers - i)
        sizes.append(size)
        left -= size
    return sizes


def long_first(ids: Sequence[str], items: Sequence[T], workers: int, costs: dict[str, float]) -> list[T]:
    """``items`` (with node ids ``ids``) reordered so each worker's initial run starts with its share of the
    long tests; the rest in the given order."""
    sizes = worksteal_sizes(len(items), max(workers, 1))
    workers = len(sizes)
    long = sorted((i for i, node in enumerate(ids) if node in costs), key=lambda i: (-costs[ids[i]], ids[i]))
    runs: list[list[int]] = [[] for _ in sizes]
    load = [0.0] * workers
    for i in long:
        open_runs = [w for w in range(workers) if len(runs[w]) < sizes[w]]
        w = min(open_runs, key=lambda w: (load[w], w))
        runs[w].append(i)
        load[w] += costs[ids[i]]
    placed = set(long)
    rest = iter(i for i in range(len(items)) if i not in placed)
    for w, size in enumerate(sizes):
        runs[w].extend(next(rest) for _ in range(size - len(runs[w])))
    return [items[i] for run in runs for i in run]


def measured_costs() -> dict[str, float]:
    """Seconds per long test id, from ``tests/durations.json`` (none when the file is missing)."""
    return json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
