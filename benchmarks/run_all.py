"""Run every benchmark in this folder, one process each (so memory and caches do not leak), then print the
issue 15 scoreboard from the figures they recorded (``benchmarks/targets.py``)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["stdlib.py", "snapshot.py", "evidence.py", "kb_day.py", "search.py", "verified_reads.py",
              "drift_calibration.py"]

if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    from benchmarks.targets import RESULTS_ENV, print_scoreboard

    failed = 0
    with tempfile.TemporaryDirectory(prefix="el-bench-") as tmp:
        results = Path(tmp) / "results.jsonl"
        for name in BENCHMARKS:
            proc = subprocess.run(
                [sys.executable, "-m", f"benchmarks.{name.removesuffix('.py')}", *sys.argv[1:]],
                cwd=HERE.parent,
                check=False,
                env={**os.environ, RESULTS_ENV: str(results)},
            )
            failed += proc.returncode != 0
        print_scoreboard(results)
    raise SystemExit(1 if failed else 0)
