"""The main job over one day of generated kb streams, end to end, beside a raw loop over the same lines.

``benchmarks/evidence.py`` times the evidence asset alone; a user's kb day also runs the snapshot,
distill and index steps and every check. This runs ``evidence-lake run`` on a fresh lake and Dagster
home (as ``benchmarks/stdlib.py`` does for a tree), over N lines dated today (one partition), and
prints wall time, lines per second, peak RSS, asset and check seconds, and the slowest steps and
checks. Raw baseline, same run: orjson.loads -> canonical dumps -> sha256 per line.

Usage: python -m benchmarks.kb_day [--lines N] [--sample all|0.1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.evidence import raw_loop
from benchmarks.stdlib import main_job


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--sample", default="0.1", help="EVIDENCE_LAKE_CHECK_SAMPLE for the run")
    args = parser.parse_args()
    from core.corpus import generate, write_corpus
    from core.snapshot import utc_today

    with tempfile.TemporaryDirectory(prefix="el-bench-kb-day-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        write_corpus(generate(1, int(args.lines / 1.834) + 1, seed=11, start=utc_today()), work / "kb")
        paths = sorted((work / "kb").glob("*.jsonl"))
        size = sum(p.stat().st_size for p in paths)
        print(f"generated {size / 1e6:.0f} MB of kb lines in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        lines = sum(raw_loop(p.read_bytes()) for p in paths)
        raw = time.perf_counter() - start
        got = main_job(work, work / "kb", args.sample, kind="jsonl", source="kb")
    print(f"\n== kb day: main job over one partition of generated streams ({os.cpu_count()} cores, "
          f"check sample {args.sample})")
    print(f"{'lines':>9}{'MB':>6}{'raw s':>8}{'run s':>8}{'x raw':>7}{'lines/s':>9}{'peak MiB':>10}{'assets s':>10}"
          f"{'checks s':>10}{'checks/assets':>15}")
    print(f"{lines:>9,}{size / 1e6:>6.0f}{raw:>8.1f}{got['wall']:>8.1f}{got['wall'] / raw:>7.1f}"
          f"{lines / got['wall']:>9,.0f}{got['peak_rss_mib']:>10.0f}{got['assets_s']:>10.1f}{got['checks_s']:>10.1f}"
          f"{got['checks_s'] / got['assets_s']:>15.0%}")
    ordered = sorted(got["steps"], key=lambda k: got["windows"][k][0])
    print("        steps, in run order: " + ", ".join(f"{k} {got['steps'][k]:.1f}s" for k in ordered))
    print("        slowest checks: " + ", ".join(f"{k} {v:.2f}s" for k, v in list(got["check_seconds"].items())[:8]))
    print("        peak RSS by step: " + ", ".join(f"{k} {got['step_rss'][k]:.0f}" for k in ordered) + " (MiB)")
    for line in got["warnings"][:5]:
        print(f"        run warned: {line.strip()[:200]}")


if __name__ == "__main__":
    main()
