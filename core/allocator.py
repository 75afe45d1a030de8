"""Make polars, pyarrow and glibc hand freed memory back to the OS at once, not seconds later or never.

Polars allocates through its own jemalloc (symbols prefixed ``_rjem_``), which polars sets to keep
freed pages for 0.5 s and then 1 s more (``dirty_decay_ms:500,muzzy_decay_ms:1000``) before returning
them. A run executes its steps one after another in one process, and a step frees and allocates
hundreds of MiB within a second, so freed pages piled up: the stdlib main job's index step began at
~790 MiB, ~300 of them pages already freed. With no decay delay
the 1× peak fell from 1,036 to 852 MiB and the 4× peak from 2,267 to 1,971 MiB; index build time did
not change (``benchmarks/stdlib.py``; README, performance notes).

jemalloc reads ``_RJEM_MALLOC_CONF`` once, when polars first allocates, so this module must be
imported before polars: ``cli.py``, ``definitions.py`` and the test suite import it first. Polars
appends the value found to its own defaults, so it wins, and writes the result back to the
environment, which the processes started from there inherit (the spawn pool's workers, Dagster's
run workers, CLI subprocesses). A value the user set is kept.
"""

import ctypes
import os
import platform
import sys

JEMALLOC_CONF_VAR = "_RJEM_MALLOC_CONF"
PROMPT_RETURN = "dirty_decay_ms:0,muzzy_decay_ms:0"
# Tried and not kept (2026-12-06): retain:false (emptied extents unmapped). The 4x stdlib run's high-memory
# mode (every step from the evidence check on ~400 MiB higher, peak 1,153-1,237 MiB in 7 of 11 runs) sits in
# one anonymous extent of 330-410 MiB, mostly lazily freed pages (smaps LazyFree), with no live frame holding
# it; with retain:false it still came in 1 of 4 runs. deltalake's Rust also bundles a jemalloc that reads
# this same variable.


def allocator_options(cores: int | None = None) -> str:
    """Freed pages returned at once, from one arena per core (jemalloc's default is four).

    Returning pages makes the next allocation fault them in again; with eight arenas on two cores
    that cost the 4× stdlib index build 15.4 → 18.5 s (mean of 3–5 runs), with two 16.4 s.
    """
    return f"narenas:{max(1, cores or os.cpu_count() or 1)},{PROMPT_RETURN}"


# glibc serves an allocation of this size or more with its own mapping, returned to the OS when freed.
# Its default starts at 128 KiB but rises to the largest block freed (up to 32 MiB): after the snapshot
# step read its files, later large blocks came from the heap, where a freed block in the middle stays
# resident. A run's steps then started on the leftovers: 4x the stdlib, 532 MiB after the snapshot step
# of which malloc_trim gave back 256. With the threshold fixed, 274 MiB after it (and no trim needed).
GLIBC_MMAP_THRESHOLD = 128 * 1024
GLIBC_MMAP_VAR = "MALLOC_MMAP_THRESHOLD_"  # read by glibc at start: the processes started from here
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
# pyarrow's default pool (mimalloc) keeps freed pages for reuse: 55 MiB after the 1x evidence step. The
# system allocator returns them (large blocks through the fixed threshold above).
ARROW_POOL_VAR = "ARROW_DEFAULT_MEMORY_POOL"


def _fix_glibc_mmap_threshold() -> None:
    """This process's glibc: the threshold fixed (mallopt), as the environment fixes it for its children."""
    if platform.libc_ver()[0] != "glibc":
        return
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, GLIBC_MMAP_THRESHOLD)
    except (OSError, AttributeError):  # no mallopt to call: the default stays
        return


def configure() -> None:
    """Set the allocator options unless the library is loaded already (they could not apply) or the user set
    them."""
    if "polars" not in sys.modules:
        os.environ.setdefault(JEMALLOC_CONF_VAR, allocator_options())
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL_VAR, "system")
    if GLIBC_MMAP_VAR not in os.environ:
        os.environ[GLIBC_MMAP_VAR] = str(GLIBC_MMAP_THRESHOLD)
        _fix_glibc_mmap_threshold()


configure()
