"""The lake against what was recorded as written: lost commits, hash mismatches, foreign rewrites."""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from deltalake import write_deltalake

from core.contracts import REPLAY_RUNS, SNAPSHOT_FILES
from core.history import HistoryAudit, Recorded
from core.lake import LakeReadError, partition_predicate, read_partitions, table_uri, write_partitions
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


def test_a_partition_read_opens_only_its_own_files(tmp_path):
    """A broken file of another partition cannot fail (or slow) a read of these: the scan skips it."""
    root, _, _ = _lake(tmp_path)
    for writer, rows, day in ((2, 3, DAY), (3, 4, OTHER)):
        write_partitions(root, SNAPSHOT_FILES, _frame(writer, rows, day).with_columns(pl.lit("u").alias("source")),
                         [("u", day)])
    (broken,) = list((Path(table_uri(root, SNAPSHOT_FILES)) / "source=t" / f"day={OTHER}").glob("*.parquet"))
    broken.write_bytes(b"not parquet")
    with pytest.raises(LakeReadError, match="broken data file"):
        read_partitions(root, SNAPSHOT_FILES, verify=False)  # the whole table does read it
    one = read_partitions(root, SNAPSHOT_FILES, [("t", DAY)], verify=False)
    assert sorted(one["path"].to_list()) == [f"w0/f{i:03d}.txt" for i in range(5)]
    # two of the four (source, day) pairs, across the broken one's source and day: exactly those rows
    pairs = read_partitions(root, SNAPSHOT_FILES, [("u", OTHER), ("t", DAY)], verify=False)
    assert sorted(set(zip(pairs["source"].to_list(), pairs["day"].to_list(), strict=True))) == [
        ("t", DAY), ("u", OTHER)]
    assert pairs.height == 5 + 4


def test_a_projected_read_returns_only_the_columns_and_rows_asked_and_is_never_a_partition(tmp_path):
    """Checks read a sliver of a wide partition (the evidence paths, the sampled files' rows): only those
    columns, in the order asked, only matching rows of this partition; it is refused where it could pass
    for the partition (verification) and carries no content hash."""
    from core.content_hash import _memo

    root, _, _ = _lake(tmp_path)
    _memo.clear()
    sliver = read_partitions(root, SNAPSHOT_FILES, [("t", OTHER)], verify=False, columns=["size", "path"],
                             where=pl.col("size") >= 4)
    assert sliver.columns == ["size", "path"]
    assert sliver.sort("size").rows() == [(4, "w1/f004.txt"), (5, "w1/f005.txt"), (6, "w1/f006.txt")]
    assert not _memo  # a whole partition read remembers its writer's hash; a projection must not
    whole = read_partitions(root, SNAPSHOT_FILES, [("t", OTHER)], verify=False)
    assert whole.height == 7 and len(_memo) == 1
    with pytest.raises(ValueError, match="cannot be verified"):
        read_partitions(root, SNAPSHOT_FILES, [("t", DAY)], verify=True, columns=["path"])
    with pytest.raises(ValueError, match="no column"):
        read_partitions(root, SNAPSHOT_FILES, [("t", DAY)], verify=False, columns=["nope"])
    absent = read_partitions(str(tmp_path / "empty"), SNAPSHOT_FILES, [("t", DAY)], verify=False, columns=["path"])
    assert absent.columns == ["path"] and absent.height == 0
