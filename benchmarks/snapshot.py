"""Snapshot a generated 20,000-file tree (1-16 KiB files) through the assets, beside a raw loop.

Raw baseline (same process, same tree, warm cache): os.walk + read + sha256 of every file.
Assets: raw/snapshots + raw/snapshot_files materialised in process (ephemeral instance),
first into an empty objects store (every object written), then again (every object reused),
then with all 8 checks. Usage: python benchmarks/snapshot.py [--files N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import quiet_dagster, report, timed


def generate_tree(root: Path, files: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        folder = root / f"d{i % 50:02d}" / f"s{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 16 * 1024)
        (folder / f"f{i:05d}.txt").write_bytes(rng.randbytes(size // 2).hex().encode()[:size])
        total += size
    return total


def raw_loop(root: Path) -> int:
    count = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                hashlib.sha256(handle.read()).hexdigest()
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    quiet_dagster()
    import dagster as dg

    from assets.partitions import SOURCES_PARTITIONS_NAME, partition_key
    from assets.snapshots import raw_snapshot
    from checks.snapshots import SNAPSHOT_CHECKS
    from tests.helpers import resources_for, write_sources

    work = Path(tempfile.mkdtemp(prefix="el-bench-snapshot-"))
    try:
        tree = work / "tree"
        total = generate_tree(tree, args.files)
        sources = write_sources(work / "sources.toml", {"bench": {"kind": "tree", "path": "tree"}})
        raw_loop(tree)  # warm the page cache for both sides
        raw_s, n = timed(lambda: raw_loop(tree))
        today = dt.datetime.now(dt.UTC).date()
        key = partition_key("bench", today)

        def materialise(lake: Path, checks: bool):
            with dg.instance_for_test() as instance:
                instance.add_dynamic_partitions(SOURCES_PARTITIONS_NAME, ["bench"])
                result = dg.materialize(
                    [raw_snapshot, *(SNAPSHOT_CHECKS if checks else [])],
                    partition_key=key,
                    instance=instance,
                    resources=resources_for(lake, sources),
                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                )
                assert result.success
            return result

        lakes = iter(work / f"lake{i}" for i in range(10))
        cold_s, _ = timed(lambda: materialise(next(lakes), checks=False))
        lake = work / "lake_reuse"
        materialise(lake, checks=False)
        warm_s, _ = timed(lambda: materialise(lake, checks=False))
        checks_s, _ = timed(lambda: materialise(lake, checks=True), repeat=1)
        mb = total / 1e6
        report(
            f"snapshot: {n} files, {mb:.0f} MB",
            [
                ("raw walk + read + sha256", raw_s, f"{n / raw_s:,.0f} files/s"),
                ("assets, empty objects store (all written)", cold_s, f"{n / cold_s:,.0f} files/s"),
                ("assets, objects already stored (all reused)", warm_s, f"{n / warm_s:,.0f} files/s"),
                ("assets + 8 checks (re-read, re-hash, verify)", checks_s, f"{n / checks_s:,.0f} files/s"),
            ],
            raw_s,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
