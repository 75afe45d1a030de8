"""The main job on this machine's Python standard library as a tree source, beside a raw parse loop.

Raw baseline (same run, same files): walk the tree, read each file, sha256 it, and for ``.py``
files ``ast.parse`` + ``ast.walk``. Then ``evidence-lake run`` on a fresh lake and Dagster home,
as a user would run it: wall time, peak RSS (of that process), and Dagster's own step
durations split into assets and checks. ``--copies 4`` repeats the tree four times under one
source, to see how time and memory grow with the corpus.

Columns: ``ingest s`` is the snapshot, evidence and index steps alone (issue 15 wants them within
the raw loop's time, using both cores).

Usage: python -m benchmarks.stdlib [--copies 1 4] [--tree PATH] [--sample all|0.1]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import ROOT
from benchmarks.targets import record as record_figure

SKIP = {"site-packages", "__pycache__"}
INGEST_STEPS = ("raw_snapshot", "evidence", "indexes")  # snapshot -> evidence -> index, target <= 1.0x raw


def copy_tree(src: Path, dest: Path, copies: int) -> int:
    """``copies`` copies of the stdlib (without site-packages and bytecode) under ``dest``; file count."""
    n = 0
    for c in range(copies):
        target = dest / f"copy{c}"
        shutil.copytree(src, target, ignore=lambda d, names: [x for x in names if x in SKIP], symlinks=True)
        n += sum(1 for p in target.rglob("*") if p.is_file() and not p.is_symlink())
    return n


def raw_loop(root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    files = 0
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            data = path.read_bytes()
            hashlib.sha256(data).hexdigest()
            files += 1
            if name.endswith(".py"):
                try:
                    for _ in ast.walk(ast.parse(data)):
                        pass
                except (SyntaxError, ValueError):
                    pass
    return time.perf_counter() - start, files


def raw_seconds(root: Path) -> float:
    """``raw_loop`` in a fresh interpreter: the baseline of the 4x pass ran 46-48 s on its own but 58-75 s
    in the benchmark's process after its 1x pass, which made the 4x ratio look better than it is."""
    code = ("import sys; from pathlib import Path; from benchmarks.stdlib import raw_loop; "
            "print(raw_loop(Path(sys.argv[1]))[0])")
    out = subprocess.run([sys.executable, "-c", code, str(root)], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    return float(out.strip().splitlines()[-1])


PROBE = ROOT / "benchmarks" / "memprobe"  # sitecustomize.py: the run process's memory, and who holds its frames


def main_job(work: Path, tree: Path, sample: str, probe: bool = False, kind: str = "tree",
             source: str = "stdlib") -> dict:
    """``evidence-lake run`` of source ``source`` (``kind`` at ``tree``) on a fresh lake and Dagster home in
    ``work``: wall time, peak RSS, step and check seconds, and the peak RSS inside each step."""
    (work / "sources.toml").write_text(f'[sources.{source}]\nkind = "{kind}"\npath = "{tree}"\n')
    env = {**os.environ, "EVIDENCE_LAKE_SOURCES": str(work / "sources.toml"), "EVIDENCE_LAKE_ROOT": str(work / "lake"),
           "DAGSTER_HOME": str(work / "home"), "EVIDENCE_LAKE_CHECK_SAMPLE": sample, "COLUMNS": "150"}
    if probe:  # slows the run (a walk of every Python object each 2 s) and adds its own memory: for diagnosis only
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROBE), env.get("PYTHONPATH")]))
        env["EVIDENCE_LAKE_MEMPROBE"] = str(work / "memprobe.log")
    start = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "evidence-lake"), "run", "--source", source],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = RssSampler(proc.pid)
    sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"evidence-lake run failed:\n{out.decode(errors='replace')[-3000:]}")
    split = step_split(work / "home")
    # what the run warned of (a pool worker that died, and its work moved into the run process) explains a figure
    warnings = [line for line in out.decode(errors="replace").splitlines()
                if "warning" in line.lower() or " died " in line]
    probed = (work / "memprobe.log").read_text().splitlines() if probe else []
    return {"wall": wall, "peak_rss_mib": usage.ru_maxrss / 1024, **split, "warnings": warnings, "probed": probed,
            "step_rss": sampler.peaks(split["windows"]), "step_growth": sampler.growth(split["windows"])}


class RssSampler(threading.Thread):
    """Samples the resident memory of the run process every 50 ms (from /proc), to say which step peaks.

    ``ru_maxrss`` gives one number for the whole run; a per-step peak shows where memory grows
    with the corpus. Pool workers are separate processes and counted on their own.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (unix time, MiB)

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self.stop.wait(0.05):
            try:
                text = status.read_text()
            except OSError:
                return
            kib = next((int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS:")), 0)
            self.samples.append((time.time(), kib / 1024))

    def _inside(self, lo: float, hi: float) -> list[float]:
        return [mib for t, mib in self.samples if lo <= t <= hi]

    def peaks(self, windows: dict[str, tuple[float, float]]) -> dict[str, float]:
        """Peak MiB sampled inside each step's (start, end) window."""
        return {step: max(self._inside(lo, hi), default=0.0) for step, (lo, hi) in windows.items()}

    def growth(self, windows: dict[str, tuple[float, float]]) -> dict[str, float]:
        """Each step's peak above the resident memory it started with: its own working set, apart
        from what earlier steps left resident (the allocators keep freed memory for a while)."""
        inside = {step: self._inside(lo, hi) for step, (lo, hi) in windows.items()}
        return {step: max(mib) - mib[0] if mib else 0.0 for step, mib in inside.items()}


def step_split(home: Path) -> dict:
    """Seconds in asset steps and in check steps, from the run's step stats in the Dagster instance."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(limit=1)
        stats = instance.get_run_step_stats(run.run_id)
        check_seconds = checks_by_time(instance, run.run_id)
    steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats}
    windows = {s.step_key: (s.start_time or 0, s.end_time or 0) for s in stats}
    checks = sum(v for k, v in steps.items() if k.endswith("_checks"))
    assets = sum(v for k, v in steps.items() if not k.endswith("_checks"))
    ingest = sum(steps.get(k, 0.0) for k in INGEST_STEPS)
    return {"assets_s": assets, "checks_s": checks, "ingest_s": ingest, "steps": steps, "windows": windows,
            "check_seconds": check_seconds}


def checks_by_time(instance, run_id: str) -> dict[str, float]:
    """Each check's own seconds (the metadata every check step records), slowest first."""
    import dagster as dg

    from checks.factories import CHECK_SECONDS

    seconds = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if CHECK_SECONDS in evaluation.metadata:
            seconds[evaluation.check_name] = evaluation.metadata[CHECK_SECONDS].value
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--tree", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    parser.add_argument("--sample", default="0.1", help="EVIDENCE_LAKE_CHECK_SAMPLE for the run")
    parser.add_argument("--probe", action="store_true", help="log the run's live frames and who holds the largest "
                        "(benchmarks/memprobe), and print the first sample of each step; slows the run")
    args = parser.parse_args()
    print(f"\n== stdlib main job ({os.cpu_count()} cores, tree {args.tree}, check sample {args.sample})")
    print(f"{'copies':>6}{'files':>8}{'raw s':>8}{'run s':>8}{'x raw':>7}{'peak MiB':>10}{'assets s':>10}"
          f"{'checks s':>10}{'checks/assets':>15}{'ingest s':>10}{'x raw':>7}")
    for copies in args.copies:
        with tempfile.TemporaryDirectory(prefix="evidence-lake-stdlib-") as tmp:
            work = Path(tmp)
            files = copy_tree(args.tree, work / "tree", copies)
            raw = min(raw_seconds(work / "tree") for _ in range(2))  # the second pass has a warm page cache
            got = main_job(work, work / "tree", args.sample, args.probe)
            print(f"{copies:>6}{files:>8}{raw:>8.1f}{got['wall']:>8.1f}{got['wall'] / raw:>7.1f}"
                  f"{got['peak_rss_mib']:>10.0f}{got['assets_s']:>10.1f}{got['checks_s']:>10.1f}"
                  f"{got['checks_s'] / got['assets_s']:>15.0%}{got['ingest_s']:>10.1f}{got['ingest_s'] / raw:>7.1f}")
            for figure, value in ((f"stdlib_main_ratio_{copies}x", got["wall"] / raw),
                                  (f"stdlib_ingest_ratio_{copies}x", got["ingest_s"] / raw),
                                  (f"stdlib_peak_mib_{copies}x", got["peak_rss_mib"]),
                                  (f"stdlib_checks_share_{copies}x", got["checks_s"] / got["assets_s"])):
                record_figure(figure, value)
            slowest = sorted(got["steps"].items(), key=lambda kv: -kv[1])[:6]
            print("        slowest steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in slowest))
            print("        slowest checks: " + ", ".join(
                f"{k} {v:.2f}s" for k, v in list(got["check_seconds"].items())[:8]))
            ordered = sorted(got["step_rss"], key=lambda k: got["windows"][k][0])
            print("        peak RSS by step, in run order: "
                  + ", ".join(f"{k} {got['step_rss'][k]:.0f}" for k in ordered) + " (MiB)")
            print("        growth within each step (peak - RSS at its start): "
                  + ", ".join(f"{k} +{got['step_growth'][k]:.0f}" for k in ordered) + " (MiB)")
            for line in got["warnings"][:5]:
                print(f"        run warned: {line.strip()[:200]}")
            for step in ordered if args.probe else []:  # what was live when each step began
                lo, hi = got["windows"][step]
                first = next((line for line in got["probed"] if lo <= float(line.split()[0]) <= hi), None)
                print(f"        probe at {step} start: {first.split(' ', 1)[1][:400] if first else '(no sample)'}")


if __name__ == "__main__":
    main()
