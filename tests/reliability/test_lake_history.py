"""The lake against what was recorded as written: lost commits, hash mismatches, foreign rewrites."""

import datetime as dt
from pathlib import Path

import polars as pl
from deltalake import write_deltalake

from core.contracts import REPLAY_RUNS, SNAPSHOT_FILES
from core.history import HistoryAudit, Recorded
from core.lake import partition_predicate, table_uri, write_partitions
from tests.reliability.test_concurrent_writes import _frame

DAY, OTHER = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def _lake(tmp_path: Path) -> tuple[str, Recorded, Recorded]:
    root = str(tmp_path / "lake")
    first = write_partitions(root, SNAPSHOT_FILES, _frame(0, 5, DAY), [("t", DAY)])
    second = write_partitions(root, SNAPSHOT_FILES, _frame(1, 7, OTHER), [("t", OTHER)])
    return root, Recorded(first.version, first.content_hash), Recorded(second.version, second.content_hash)


def test_a_clean_lake_has_no_problem_and_a_recorded_hash_that_differs_is_named(tmp_path):
    root, day, other = _lake(tmp_path)
    audit = HistoryAudit(root)
    assert audit.problem(SNAPSHOT_FILES, ("t", DAY), day) is None
    assert audit.problem(SNAPSHOT_FILES, ("t", OTHER), other) is None
    wrong = Recorded(day.version, "0" * 64)
    said = audit.problem(SNAPSHOT_FILES, ("t", DAY), wrong)
    assert said.startswith(f"table raw/snapshot_files partition t/{DAY}: content hash differs at version {day.version}")


def test_a_deleted_newest_commit_is_a_missing_commit_for_its_partition_only(tmp_path):
    root, day, other = _lake(tmp_path)
    log = Path(table_uri(root, SNAPSHOT_FILES)) / "_delta_log"
    (log / f"{other.version:020d}.json").unlink()
    audit = HistoryAudit(root)
    said = audit.problem(SNAPSHOT_FILES, ("t", OTHER), other)
    assert f"partition t/{OTHER}: commit {other.version} missing" in said and "no commit writes it" in said
    assert audit.problem(SNAPSHOT_FILES, ("t", DAY), day) is None


def test_a_rewrite_by_another_tool_is_named_with_its_commit(tmp_path):
    root, day, _ = _lake(tmp_path)
    rows = _frame(0, 5, DAY).with_columns(pl.col("size") + 1)
    write_deltalake(table_uri(root, SNAPSHOT_FILES), rows.to_arrow(), mode="overwrite",
                    predicate=partition_predicate([("t", DAY)]))
    said = HistoryAudit(root).problem(SNAPSHOT_FILES, ("t", DAY), day)
    assert said is not None and "rewritten outside the lake's writer (commit 3 is not ours)" in said


def test_a_table_that_is_gone_is_named(tmp_path):
    said = HistoryAudit(str(tmp_path / "nothing")).problem(REPLAY_RUNS, ("t", DAY), Recorded(4, "a" * 64))
    assert said == f"table replay/runs partition t/{DAY}: the table is gone; the instance recorded version 4"


def test_an_empty_ledger_batch_committed_nothing_and_is_not_a_lost_commit(tmp_path):
    root, _, _ = _lake(tmp_path)
    empty = write_partitions(root, REPLAY_RUNS, REPLAY_RUNS.empty(), [("t", DAY)])  # no rows, no scope: no commit
    audit = HistoryAudit(root)
    assert audit.problem(REPLAY_RUNS, ("t", DAY), Recorded(empty.version, empty.content_hash, 0)) is None
    said = audit.problem(REPLAY_RUNS, ("t", DAY), Recorded(empty.version, empty.content_hash, 3))
    assert said is not None and "table replay/runs partition t/" in said  # a batch that had rows must be found
