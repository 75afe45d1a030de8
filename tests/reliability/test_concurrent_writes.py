"""Forced races: writers that all read the table before any of them commits.

Each round, two spawned processes read the same snapshot, wait at a barrier, then commit.
Writers of one partition must end with exactly one writer's complete rows (the other
retries from a fresh snapshot and wins last); writers of different partitions must both
land. Half of the same-partition rounds start on a table that does not exist yet, which
is the race that used to keep both writers' rows.
"""

import datetime as dt
import multiprocessing

import polars as pl
import pytest

from core.content_hash import content_hash
from core.contracts import SNAPSHOT_FILES
from core.lake import META_PREFIX, commit_history, guard_app_id, open_table, read_partitions, write_partitions
from tests.helpers import rows_hash

DAY = dt.date(2026, 11, 20)
OTHER_DAY = dt.date(2026, 11, 21)
SAME_ROUNDS = 50
DIFFERENT_ROUNDS = 10
ROUND_TIMEOUT_S = 120


def _frame(writer: int, rows: int, day: dt.date) -> pl.DataFrame:
    """``rows`` snapshot-file rows whose paths name the writer, for partition ('t', day)."""
    paths = [f"w{writer}/f{i:03d}.txt" for i in range(rows)]
    return SNAPSHOT_FILES.frame(
        {
            "snapshot_id": [f"{writer:064d}"] * rows,
            "path": paths,
            "path_key": paths,
            "object": [f"{writer:02d}{i:062d}" for i in range(rows)],
            "size": [i for i in range(rows)],
            "crc32": [i for i in range(rows)],
            "lang_hint": ["text"] * rows,
            "is_text": [True] * rows,
            "line_count": [1] * rows,
            "status": ["stored"] * rows,
            "detail": [""] * rows,
            "line_offsets": [[] for _ in range(rows)],
        },
        source="t",
        day=day,
    )


def _plan(rounds_same: int, rounds_different: int) -> list[tuple[str, str]]:
    """(root suffix, kind) per round: fresh-table and existing-table races, then disjoint partitions.

    Each round has a table of its own, so a round reads a short log (a shared table's log would
    grow by two commits a round, and the S3 rounds would slow down with it).
    """
    plan = [(f"fresh{r}" if r % 2 == 0 else f"existing{r}", "same") for r in range(rounds_same)]
    return plan + [(f"different{r}", "different") for r in range(rounds_different)]


def _prepare(root: str, options: dict[str, str] | None, plan: list[tuple[str, str]]) -> None:
    """Give every non-fresh round a table that already holds a third writer's rows in its partitions."""
    for suffix, kind in plan:
        if not suffix.startswith("fresh"):
            for day in (DAY, OTHER_DAY) if kind == "different" else (DAY,):
                write_partitions(f"{root}/{suffix}", SNAPSHOT_FILES, _frame(2, 30, day), [("t", day)],
                                 storage_options=options)


def _writer(index, root, options, plan, rows, snap_bar, done_bar, go_bar, errors):
    try:
        for suffix, kind in plan:
            day = OTHER_DAY if kind == "different" and index == 1 else DAY
            frame = _frame(index, rows, day)
            try:
                write_partitions(f"{root}/{suffix}", SNAPSHOT_FILES, frame, [("t", day)],
                                 storage_options=options, before_commit=lambda: snap_bar.wait(ROUND_TIMEOUT_S))
            except Exception as exc:  # reported to the parent; the round still ends in step
                errors.put(f"writer {index} ({suffix}, {kind}): {type(exc).__name__}: {exc}")
                snap_bar.abort()
            done_bar.wait(ROUND_TIMEOUT_S)
            go_bar.wait(ROUND_TIMEOUT_S)
    except Exception as exc:
        errors.put(f"writer {index} stopped: {type(exc).__name__}: {exc}")


def _race(root: str, options: dict[str, str] | None, different_rounds: int) -> dict[str, int]:
    ctx = multiprocessing.get_context("spawn")
    plan = _plan(SAME_ROUNDS, different_rounds)
    _prepare(root, options, plan)
    sizes = (50, 70)
    snap_bar, done_bar, go_bar = ctx.Barrier(2), ctx.Barrier(3), ctx.Barrier(3)
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(i, root, options, plan, sizes[i], snap_bar, done_bar, go_bar, errors))
             for i in range(2)]
    for p in procs:
        p.start()
    expected = {i: content_hash(_frame(i, sizes[i], DAY), SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile)
                for i in range(2)}
    tally = {"writer0_won": 0, "writer1_won": 0, "different_ok": 0}
    try:
        for number, (suffix, kind) in enumerate(plan):
            done_bar.wait(ROUND_TIMEOUT_S)
            assert errors.empty(), errors.get()
            lake = f"{root}/{suffix}"
            if kind == "same":
                rows = read_partitions(lake, SNAPSHOT_FILES, [("t", DAY)], options)
                digest = rows_hash(rows, SNAPSHOT_FILES.key, SNAPSHOT_FILES.volatile)
                winner = [i for i in range(2) if digest == expected[i]]
                assert winner, (f"round {number} ({suffix}): {rows.height} rows, not one writer's "
                                f"{sizes}: writers {sorted(set(p.split('/')[0] for p in rows['path']))}")
                tally[f"writer{winner[0]}_won"] += 1
                # Both writers committed: the partition's write generation moved by two this round.
                table = open_table(lake, SNAPSHOT_FILES, options)
                generation = table.transaction_version(guard_app_id(SNAPSHOT_FILES, ("t", DAY)))
                assert generation == (2 if suffix.startswith("fresh") else 3), (number, generation)
            else:
                both = read_partitions(lake, SNAPSHOT_FILES, [("t", DAY), ("t", OTHER_DAY)], options)
                by_day = dict(both.group_by("day").len().iter_rows())
                assert by_day == {DAY: sizes[0], OTHER_DAY: sizes[1]}, (number, by_day)
                tally["different_ok"] += 1
            go_bar.wait(ROUND_TIMEOUT_S)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    return tally


def _check(tally: dict[str, int], different_rounds: int) -> None:
    assert tally["writer0_won"] + tally["writer1_won"] == SAME_ROUNDS  # every round: one writer's rows
    assert tally["different_ok"] == different_rounds
    print(f"forced races: {tally}")


@pytest.mark.slow
def test_forced_same_partition_races_on_a_local_root_end_with_one_writer(tmp_path):
    _check(_race(str(tmp_path / "lake"), None, DIFFERENT_ROUNDS), DIFFERENT_ROUNDS)


@pytest.mark.slow
def test_forced_same_partition_races_on_s3_end_with_one_writer(s3_lake):
    root, options = s3_lake
    _check(_race(root, options, 4), 4)  # disjoint partitions race in full on the local root


def _scores(version: str, rows: int, tag: str) -> pl.DataFrame:
    from core.contracts import DISTILL_SCORES

    ids = [f"{i:064x}" for i in range(rows)]
    return DISTILL_SCORES.frame({"evidence_id": ids, "kind": ["symbol"] * rows, "path": [f"{tag}.py"] * rows,
                                 "scorer": ["rubric"] * rows, "scorer_version": [version] * rows,
                                 "score": [0.5] * rows, "category": ["accepted"] * rows,
                                 "reasons": [[tag]] * rows, "features": ["{}"] * rows}, source="t", day=DAY)


@pytest.mark.parametrize("same_scope", [False, True])
def test_forced_races_of_scoped_writes_keep_every_scope_and_one_writer_per_scope(tmp_path, same_scope):
    """Scorer versions (and ledger batches) share a partition: racing writers of two scopes both land;
    racing writers of one scope end with one writer's rows. Threads, one barrier per round."""
    import threading

    from core.contracts import DISTILL_SCORES

    root = str(tmp_path / "lake")
    write_partitions(root, DISTILL_SCORES, _scores("0.9.0", 5, "old"), [("t", DAY)])  # another scope, untouched
    for round_ in range(20):
        barrier = threading.Barrier(2)
        versions = ("1.0.0", "1.0.0") if same_scope else ("1.0.0", "2.0.0")
        frames = [_scores(versions[i], 10 + 5 * i, f"w{i}r{round_}") for i in range(2)]
        errors, receipts = [], []

        def write(frame, errors=errors, barrier=barrier, receipts=receipts):
            try:
                receipts.append(write_partitions(root, DISTILL_SCORES, frame, [("t", DAY)],
                                                 before_commit=lambda: barrier.wait(ROUND_TIMEOUT_S)))
            except Exception as exc:  # reported below
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=write, args=(f,)) for f in frames]
        for t in threads:
            t.start()
        for t in threads:
            t.join(ROUND_TIMEOUT_S)
        assert not errors, errors
        rows = read_partitions(root, DISTILL_SCORES, [("t", DAY)])
        by_version = {v: rows.filter(pl.col("scorer_version") == v) for v in rows["scorer_version"].unique()}
        assert by_version["0.9.0"].height == 5
        # each receipt names the version its own commit made, also for the writer that retried
        history = {int(e["version"]): e for e in commit_history(open_table(root, DISTILL_SCORES))}
        assert sorted(r.version for r in receipts) == sorted(history)[-2:], (round_, receipts)
        for receipt in receipts:
            assert history[receipt.version][f"{META_PREFIX}content_hash"] == receipt.content_hash, round_
        for version in set(versions):
            tags = set(by_version[version]["path"].to_list())
            assert len(tags) == 1, (round_, version, tags)  # exactly one writer's rows for each scope
            writer = next(f for f in frames if f["path"][0] in tags and f["scorer_version"][0] == version)
            assert by_version[version].height == writer.height
