"""Run every benchmark in this folder, one process each (so memory and caches do not leak)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["stdlib.py", "snapshot.py", "evidence.py", "search.py", "verified_reads.py", "drift_calibration.py"]

if __name__ == "__main__":
    failed = 0
    for name in BENCHMARKS:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name.removesuffix('.py')}", *sys.argv[1:]],
            cwd=HERE.parent,
            check=False,
        )
        failed += proc.returncode != 0
    raise SystemExit(1 if failed else 0)
