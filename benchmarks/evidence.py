"""Evidence throughput and incremental reuse.

1. N generated kb lines (default 1,000,000, one day) through the evidence asset
   (raw/snapshot_files already materialised; the timed run reads it, extracts, writes
   both Delta tables), beside a raw loop over the same lines in the same process:
   orjson.loads -> canonical bytes (orjson.dumps, sorted keys) -> sha256.
2. A git source of F files (default 2,000 Python/Markdown files): full extraction of
   day 1, then day 2 in which 1% of the files changed (reuse), as a ratio.

Usage: python -m benchmarks.evidence [--lines N] [--files F]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.common import cli_instance, quiet_dagster, report, timed
from benchmarks.targets import record

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def raw_loop(data: bytes) -> int:
    n = 0
    for line in data.split(b"\n"):
        if line:
            record = orjson.loads(line)
            hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
            n += 1
    return n


def _materialize(instance, assets, selection, key, resources):
    import dagster as dg

    result = dg.materialize(assets, selection=selection, partition_key=key, instance=instance, resources=resources,
                            run_config=QUIET)
    assert result.success
    return result


def stream_benchmark(work: Path, lines: int) -> None:
    import dagster as dg

    from assets.evidence import evidence
    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from assets.snapshots import raw_snapshot
    from core.corpus import generate, write_corpus
    from tests.helpers import resources_for, write_sources

    per_day = int(lines / 1.834) + 1  # sessions + 1/2 replay runs + 1/3 reviews per step
    start = time.perf_counter()
    write_corpus(generate(1, per_day, seed=11), work / "kb")
    total_lines = sum(p.read_bytes().count(b"\n") for p in (work / "kb").glob("*.jsonl"))
    data = b"".join(p.read_bytes() for p in sorted((work / "kb").glob("*.jsonl")))
    print(f"generated {total_lines:,} lines ({len(data) / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
    sources = write_sources(work / "sources.toml", {"kb": {"kind": "jsonl", "path": "kb"}})
    raw_s, n = timed(lambda lines_bytes=data: raw_loop(lines_bytes), repeat=2)
    data = b""  # free the copy before the asset run
    resources = resources_for(work / "lake", sources)
    key = partition_key("kb", dt.date(2026, 11, 16))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["kb"])
        _materialize(instance, [raw_snapshot], [raw_snapshot], key, resources)
        ev_s, _ = timed(lambda: _materialize(instance, [raw_snapshot, evidence], [evidence], key, resources),
                        repeat=2)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    record("kb_lines_per_s", n / ev_s)
    report(f"evidence: {n:,} kb lines, one partition", [
        ("raw loads -> canonical dumps -> sha256", raw_s, f"{n / raw_s:,.0f} lines/s"),
        ("evidence asset (extract + both Delta writes)", ev_s, f"{n / ev_s:,.0f} lines/s; peak RSS {peak_gb:.1f} GB"),
    ], raw_s)


def reuse_benchmark(work: Path, files: int) -> None:
    import dagster as dg

    from assets.evidence import evidence
    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from assets.snapshots import raw_snapshot
    from tests.helpers import commit_files, init_repo, resources_for, write_sources

    repo = init_repo(work / "repo")
    body = ('"""Module {i}."""\n\n\nclass C{i}:\n    """Doc."""\n\n'
            '    def m(self, x: int) -> int:\n        return x\n') * 8
    tree = {f"pkg{i % 20}/m{i}.py": body.format(i=i).encode() for i in range(files // 2)}
    tree.update({f"docs/d{i}.md": (f"# Doc {i}\n\n## Part\n\ntext\n" * 10).encode() for i in range(files // 2)})
    commit_files(repo, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), tree)
    changed = {p: data + b"\n# changed\n" for p, data in list(tree.items())[:: 100]}  # 1%
    commit_files(repo, dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC), changed)
    sources = write_sources(work / "sources_git.toml", {"repo": {"kind": "git", "path": "repo"}})

    def run_days(lake: Path) -> tuple[float, float]:
        resources = resources_for(lake, sources)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["repo"])
            k1, k2 = partition_key("repo", dt.date(2024, 3, 1)), partition_key("repo", dt.date(2024, 3, 2))
            _materialize(instance, [raw_snapshot], [raw_snapshot], k1, resources)
            _materialize(instance, [raw_snapshot], [raw_snapshot], k2, resources)
            t = time.perf_counter()
            _materialize(instance, [raw_snapshot, evidence], [evidence], k1, resources)
            full = time.perf_counter() - t
            t = time.perf_counter()
            _materialize(instance, [raw_snapshot, evidence], [evidence], k2, resources)
            return full, time.perf_counter() - t

    def main_job_days(lake: Path, source_toml: Path = sources) -> tuple[float, float]:
        """End to end: main_job (every asset and check) for day 1, then for the 1%-changed day 2."""
        from definitions import build_definitions
        from resources.run_in_process import run_in_process

        job = build_definitions(resources_for(lake, source_toml)).resolve_job_def("main_job")
        with cli_instance(lake.with_name(f"{lake.name}_home")) as instance:  # the instance `run` uses
            instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["repo"])
            seconds = []
            for day in (dt.date(2024, 3, 1), dt.date(2024, 3, 2)):
                t = time.perf_counter()
                result = run_in_process(job, partition_key=partition_key("repo", day), instance=instance,
                                        run_config=QUIET)  # as the CLI runs it
                seconds.append(time.perf_counter() - t)
                assert result.success, f"main_job failed for {day}"
            return seconds[0], seconds[1]

    # the same job over a two-file repository: what any run costs whatever its size (run creation,
    # Dagster's event log, a dozen steps and ~40 check evaluations), which no reuse can remove
    tiny = init_repo(work / "tiny")
    commit_files(tiny, dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC), {"a.py": b'"""A."""\n', "d.md": b"# D\n"})
    commit_files(tiny, dt.datetime(2024, 3, 2, 12, tzinfo=dt.UTC), {"a.py": b'"""B."""\n'})
    tiny_sources = write_sources(work / "sources_tiny.toml", {"repo": {"kind": "git", "path": "tiny"}})

    results = [run_days(work / f"lake_git{i}") for i in range(3)]
    full = sorted(r[0] for r in results)[1]
    incremental = sorted(r[1] for r in results)[1]
    report(f"incremental: git source, {files:,} files, 1% changed next day", [
        ("day 1: full extraction", full, "baseline for this row pair"),
        ("day 2: 1% changed, the rest reused", incremental, f"{incremental / full:.1%} of full"),
    ], full)
    e2e_full, e2e_next = main_job_days(work / "lake_git_e2e")
    floor = main_job_days(work / "lake_tiny", tiny_sources)[1]
    record("git_one_percent_day", e2e_next / e2e_full)
    report(f"incremental end to end: main_job (all assets and checks), {files:,} files", [
        ("day 1: main_job", e2e_full, "baseline for this row pair"),
        ("day 2: 1% changed", e2e_next, f"{e2e_next / e2e_full:.1%} of full; target <= 10% (issue 15)"),
        ("fixed cost: main_job on a two-file repository", floor, f"{floor / e2e_full:.1%} of full"),
        ("day 2 above the fixed cost", e2e_next - floor,
         f"{(e2e_next - floor) / max(e2e_full - floor, 1e-9):.1%} of day 1 above it"),
    ], e2e_full)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--skip-stream", action="store_true")
    args = parser.parse_args()
    quiet_dagster()
    work = Path(tempfile.mkdtemp(prefix="el-bench-evidence-"))
    try:
        if not args.skip_stream:
            stream_benchmark(work, args.lines)
        reuse_benchmark(work, args.files)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
