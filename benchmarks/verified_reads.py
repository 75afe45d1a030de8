"""Cost of verified reads against the same read unverified, in one run.

A generated kb stream (evidence records with per-row checksums, and index terms without)
is written to a fresh lake, one partition per day. Each read runs three ways: unverified
(the baseline), verified from cold (memo dropped: every partition hashed), and verified warm
(the memo knows the file signatures, as after our own writes or an earlier read).

    .venv/bin/python -m benchmarks.verified_reads [--days 20] [--per-day 1000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
from pathlib import Path

from benchmarks.common import ROOT, timed  # noqa: F401  (ROOT puts the project on sys.path)


def build(folder: Path, days: int, per_day: int) -> str:
    from core.contracts import EVIDENCE_RECORDS, INDEX_TERMS
    from core.corpus import DEFAULT_START, generate, write_corpus
    from core.evidence import build_evidence
    from core.indexing import build_indexes
    from core.lake import write_partitions
    from core.objects import ObjectStore
    from core.snapshot import take_snapshot
    from core.sources import SourceConfig

    write_corpus(generate(days, per_day, seed=3), folder / "kb")
    root = str(folder / "lake")
    store = ObjectStore(root)
    for i in range(days):
        day = DEFAULT_START + dt.timedelta(days=i)
        snap = take_snapshot(SourceConfig("kb", "jsonl", folder / "kb"), day, store, today=day)
        ev = build_evidence("kb", "jsonl", day, snap.files, store, "ts", dt.datetime.now(dt.UTC))
        write_partitions(root, EVIDENCE_RECORDS, ev.records, [("kb", day)])
        terms = build_indexes(ev.records, "kb", day).tables["index/terms"]
        write_partitions(root, INDEX_TERMS, terms, [("kb", day)])
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--per-day", type=int, default=1000)
    args = parser.parse_args(argv)
    import core.verified as verified
    from core.contracts import EVIDENCE_RECORDS, INDEX_TERMS
    from core.lake import read_partitions
    from core.sql import run_query

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
        root = build(Path(tmp), args.days, args.per_day)
        rows = read_partitions(root, EVIDENCE_RECORDS, verify=False).height
        print(f"\n== verified reads: {args.days} partitions, {rows} evidence records")
        print(f"{'read':<44}{'unverified s':>13}{'cold s':>9}{'x':>6}{'warm s':>9}{'x':>6}")

        def cold(fn):
            def run():
                verified.forget()
                cache = Path(os.environ["XDG_CACHE_HOME"])
                for f in cache.rglob("*.json"):
                    f.unlink()
                return fn()
            return run

        reads = {
            "read_partitions(evidence/records)": lambda v: read_partitions(root, EVIDENCE_RECORDS, verify=v),
            "read_partitions(index/terms)": lambda v: read_partitions(root, INDEX_TERMS, verify=v),
            "sql: count(*) by kind from evidence_records": lambda v: (
                os.environ.__setitem__(verified.NO_VERIFY_ENV, "0" if v else "1"),
                run_query(root, "select kind, count(*) from evidence_records group by kind"))[1],
        }
        worst = 0.0
        for name, read in reads.items():
            raw, _ = timed(lambda r=read: r(False), repeat=5)
            first, _ = timed(cold(lambda r=read: r(True)), repeat=3)
            read(True)
            warm, _ = timed(lambda r=read: r(True), repeat=5)
            worst = max(worst, warm / raw)
            print(f"{name:<44}{raw:>13.3f}{first:>9.3f}{first / raw:>6.2f}{warm:>9.3f}{warm / raw:>6.2f}")
        print(f"warm verified reads cost at most {worst - 1:+.0%} over unverified (goal <= +10%); a cold read "
              "hashes each partition once per file signature")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
