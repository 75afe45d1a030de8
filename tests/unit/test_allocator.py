"""core.allocator: polars returns freed memory to the OS at once in every process that imports it first."""

import os
import subprocess
import sys
from pathlib import Path

from core.allocator import JEMALLOC_CONF_VAR, PROMPT_RETURN, set_by_user

ROOT = Path(__file__).resolve().parents[2]

# allocate ~800 MB through polars' allocator, free it, and report the RSS growth that is left right after
PROBE = """
import gc, os, sys
{first}
import polars as pl
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))
before = rss()
frame = pl.select(a=pl.int_range(0, 50_000_000), b=pl.int_range(0, 50_000_000) * 2)  # all of it polars' memory
grown = rss() - before
del frame
gc.collect()
print(grown, rss() - before, os.environ.get("_RJEM_MALLOC_CONF"))
"""


def _probe(first: str, env_value: str | None = None) -> tuple[int, int, str]:
    env = {k: v for k, v in os.environ.items() if k != JEMALLOC_CONF_VAR}
    if env_value is not None:
        env[JEMALLOC_CONF_VAR] = env_value
    done = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=120)
    assert "jemalloc" not in done.stderr, done.stderr  # it names any option it does not know ("Invalid conf pair")
    out = done.stdout.split()
    return int(out[0]), int(out[1]), out[2]


def test_freed_polars_memory_leaves_the_process_at_once_when_the_allocator_module_loads_first():
    grown, left, conf = _probe("import core.allocator")
    assert grown > 500  # the frame really was allocated (two 400 MB columns)
    assert left < 100, f"{left} MiB of {grown} still resident after the frame was freed"
    assert conf.endswith(PROMPT_RETURN)  # polars put its defaults first; the last setting wins

    # polars' own default keeps freed pages for 0.5-1.5 s: what the module is for
    grown, left, _ = _probe("")
    assert grown > 500 and left > grown // 2


def test_polars_defaults_inherited_from_a_process_that_loaded_polars_first_are_replaced():
    """A parent that imported polars before core.allocator (a notebook, the benchmark harness) exports polars'
    own decay; its children took that for a user's choice and kept freed pages (the 4x "high-memory mode").
    Without the module, that inherited value keeps them: the first test's second probe."""
    env = {k: v for k, v in os.environ.items() if k != JEMALLOC_CONF_VAR}
    written = subprocess.run([sys.executable, "-c", "import os, polars; print(os.environ['_RJEM_MALLOC_CONF'])"],
                             cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                             timeout=120).stdout.strip()
    assert written and PROMPT_RETURN not in written  # what polars writes back when nobody set a value
    grown, left, conf = _probe("import core.allocator", env_value=written)
    assert conf.endswith(PROMPT_RETURN), conf
    assert grown > 500 and left < 100, (grown, left)
    # a grandchild's value (polars prefixed its defaults again) is no user's either; a user's addition is
    assert not set_by_user(f"{written},{written}") and not set_by_user(" , ")
    assert set_by_user(f"{written},dirty_decay_ms:250") and set_by_user("narenas:4")


def test_an_allocator_setting_the_user_made_is_kept():
    _, _, conf = _probe("import core.allocator", env_value="dirty_decay_ms:250")
    assert conf.endswith("dirty_decay_ms:250") and PROMPT_RETURN not in conf


# allocate 64 x 1 MiB after freeing an 8 MiB block, and report how far glibc's heap grew (MiB)
GLIBC_PROBE = """
import os
{first}
def heap():
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[heap]"):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                return (hi - lo) >> 20
    return 0
big = b"\\x01" * (8 << 20)
del big  # by default glibc now serves blocks below 8 MiB from its heap, where a freed one can stay resident
before = heap()
blocks = [b"\\x01" * (1 << 20) for _ in range(64)]
import pyarrow as pa
print(heap() - before, pa.default_memory_pool().backend_name, os.environ.get("MALLOC_MMAP_THRESHOLD_"))
"""


def _glibc_probe(first: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "ARROW_DEFAULT_MEMORY_POOL")}
    out = subprocess.run([sys.executable, "-c", GLIBC_PROBE.format(first=first)], cwd=ROOT,
                         env={**clean, **(env or {})}, check=True, capture_output=True, text=True,
                         timeout=120).stdout.split()
    return int(out[0]), out[1], out[2]


def test_large_blocks_are_mapped_and_arrow_uses_the_system_allocator_when_the_module_loads_first():
    grown, pool, threshold = _glibc_probe("import core.allocator")
    assert grown < 8, f"glibc's heap grew {grown} MiB: 1 MiB blocks did not get their own mapping"
    assert pool == "system" and threshold == "131072"  # and the processes started from here inherit it
    grown, pool, threshold = _glibc_probe("")  # glibc's and pyarrow's defaults: what the module changes
    assert grown >= 60 and pool != "system" and threshold == "None"


def test_glibc_and_arrow_settings_the_user_made_are_kept():
    _, pool, threshold = _glibc_probe("import core.allocator", {"MALLOC_MMAP_THRESHOLD_": "65536",
                                                                 "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"})
    assert pool == "mimalloc" and threshold == "65536"
