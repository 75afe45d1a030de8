"""Shared benchmark helpers: timing, a clean environment, tidy output."""

from __future__ import annotations

import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def quiet_dagster() -> None:
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    """Median wall time over ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def report(title: str, rows: list[tuple[str, float, str]], baseline: float) -> None:
    print(f"\n== {title} ({os.cpu_count()} cores)")
    print(f"{'step':<52}{'seconds':>9}{'x raw':>8}  note")
    for name, seconds, note in rows:
        print(f"{name:<52}{seconds:>9.3f}{seconds / baseline:>8.2f}  {note}")


def cli_instance(home: Path):
    """A persistent Dagster instance in ``home`` configured as `evidence-lake` configures a new DAGSTER_HOME
    (``resources.instance_storage.instance_yaml``), for end-to-end figures of what the CLI costs; the stock
    test instance builds a SQLAlchemy engine per event (~1.2 s more per partition run)."""
    import dagster as dg

    from resources.instance_storage import instance_yaml

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml(str(home)))
    return dg.DagsterInstance.from_config(str(home))
