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
run workers, CLI subprocesses). A value the user set is kept; one made only of polars' own defaults,
which polars writes back when nobody set one, is not (``set_by_user``). deltalake's Rust bundles a
jemalloc of its own that reads the same variable.
"""

import ctypes
import os
import platform
import sys

JEMALLOC_CONF_VAR = "_RJEM_MALLOC_CONF"
PROMPT_RETURN = "dirty_decay_ms:0,muzzy_decay_ms:0"
# What polars writes back to the environment when nobody set a value: its own defaults. A process that loaded
# polars before this module (a notebook, a benchmark harness) hands that to every process it starts, where it
# looked like a value the user set and was kept. That was the 4x stdlib run's "high-memory mode": a second run
# from one benchmark process inherited polars' decay, left a 330-410 MiB extent of lazily freed pages resident
# after the evidence step, and peaked at 1,153-1,237 MiB (11 of 11 such runs) instead of 940-946 (5 of 5 first
# runs). A value made only of these pairs is taken as unset.
POLARS_DEFAULT_PAIRS = frozenset({"dirty_decay_ms:500", "muzzy_decay_ms:1000"})


def set_by_user(value: str | None) -> bool:
    """Whether a ``_RJEM_MALLOC_CONF`` value says something beyond polars' written-back defaults."""
    return value is not None and any(pair.strip() not in POLARS_DEFAULT_PAIRS
                                     for pair in value.split(",") if pair.strip())


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
    if "polars" not in sys.modules and not set_by_user(os.environ.get(JEMALLOC_CONF_VAR)):
        os.environ[JEMALLOC_CONF_VAR] = allocator_options()
    if "pyarrow" not in sys.modules:
        os.environ.setdefault(ARROW_POOL_VAR, "system")
    if GLIBC_MMAP_VAR not in os.environ:
        os.environ[GLIBC_MMAP_VAR] = str(GLIBC_MMAP_THRESHOLD)
        _fix_glibc_mmap_threshold()


configure()
