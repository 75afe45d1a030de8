"""A memory probe for the `evidence-lake` process, loaded by Python's site hook (``benchmarks.stdlib --probe``).

Active only when ``EVIDENCE_LAKE_MEMPROBE`` names a log file and the process is the ``evidence-lake`` CLI.
Every two seconds it logs the process's anonymous resident memory outside Python's 1 MiB object arenas
(what polars' and pyarrow's allocators hold), the total size of the live polars frames, and for the largest
frame over 100 MiB who holds it: its gc-visible referrers and the locals of running frames in other
threads. The probe keeps no reference to any frame between samples: an earlier version kept the largest
one in a loop variable, and then every frame it found seemed held across steps by something.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
import types

LOG = os.environ.get("EVIDENCE_LAKE_MEMPROBE")
EVERY_S = 2.0
HOLDER_MIB = 100


def anon_mib() -> int:
    """Resident anonymous memory outside 1 MiB mappings (Python's arenas), from /proc/self/smaps."""
    anon = size = 0
    name = ""
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and head[0][0] in "0123456789abcdef":
                name = head[5] if len(head) > 5 else ""
            elif head[0] == "Size:":
                size = int(head[1])
            elif head[0] == "Rss:" and name == "" and size != 1024:
                anon += int(head[1])
    return anon // 1024


def describe(obj: object) -> str:
    if isinstance(obj, types.FrameType):
        return f"frame {obj.f_code.co_name}@{obj.f_code.co_filename.rsplit('/', 1)[-1]}:{obj.f_lineno}"
    if isinstance(obj, dict):
        return f"dict{list(obj)[:5]}"
    if isinstance(obj, list | tuple):
        return f"{type(obj).__name__}[{len(obj)}]"
    return type(obj).__qualname__


def holders(target: object, ignore: set[int]) -> list[str]:
    """Who refers to ``target``: gc-visible referrers, and running frames of other threads holding it in a local
    (Python 3.11 shows a running function's locals to the gc only through its frame's locals)."""
    found = [describe(r) for r in gc.get_referrers(target) if id(r) not in ignore][:5]
    for thread, top in sys._current_frames().items():
        if thread == threading.get_ident():
            continue
        frame = top
        while frame is not None:
            names = [k for k, v in frame.f_locals.items() if v is target]
            if names:
                found.append(f"local {names} of {describe(frame)}")
            frame = frame.f_back
    return found


def sample() -> str:
    """One line: anonymous memory, live frames, and the largest frame's holders (no reference kept)."""
    polars = sys.modules.get("polars")
    text = f"anon {anon_mib()}"
    if polars is None:
        return text
    live = [obj for obj in gc.get_objects() if type(obj) is polars.DataFrame]
    total, best, best_size = 0, -1, 0
    for i, frame in enumerate(live):
        try:
            size = frame.estimated_size()
        except Exception:  # noqa: BLE001 - a frame being built or torn down
            continue
        total += size
        if size > best_size:
            best, best_size = i, size
    text += f" live_frames {total >> 20} largest {best_size >> 20}"
    if best_size > HOLDER_MIB << 20:
        text += f" shape {live[best].shape} held_by {holders(live[best], {id(live)})}"
    return text


def _loop(log) -> None:
    while True:
        log.write(f"{time.time():.1f} {sample()}\n")
        time.sleep(EVERY_S)


if LOG and os.path.basename(sys.argv[0]) == "evidence-lake":
    threading.Thread(target=_loop, args=(open(LOG, "a", buffering=1),), name="memprobe", daemon=True).start()  # noqa: SIM115
