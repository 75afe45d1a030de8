"""Make polars hand freed memory back to the OS at once, not seconds later.

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

import os
import sys

JEMALLOC_CONF_VAR = "_RJEM_MALLOC_CONF"
PROMPT_RETURN = "dirty_decay_ms:0,muzzy_decay_ms:0"


def allocator_options(cores: int | None = None) -> str:
    """Freed pages returned at once, from one arena per core (jemalloc's default is four).

    Returning pages makes the next allocation fault them in again; with eight arenas on two cores
    that cost the 4× stdlib index build 15.4 → 18.5 s (mean of 3–5 runs), with two 16.4 s.
    """
    return f"narenas:{max(1, cores or os.cpu_count() or 1)},{PROMPT_RETURN}"


def configure() -> None:
    """Set the allocator options unless polars is loaded already (they could not apply) or the user set them."""
    if "polars" not in sys.modules:
        os.environ.setdefault(JEMALLOC_CONF_VAR, allocator_options())


configure()
