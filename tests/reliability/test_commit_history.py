"""Commit history under concurrent writers: every entry carries the version of its own commit.

deltalake 1.6's ``DeltaTable.history()`` numbers entries from the version the table was
loaded at while listing commits up to the newest one in storage; a parallel run that
committed in between made the replay append-only check open the wrong version and fail.
"""

import json
import multiprocessing
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from core.lake import LakeReadError, commit_history

COMMITS = 80


def _commit(root: str, tag: str) -> None:
    write_deltalake(root, pa.table({"x": [1]}), mode="append",
                    commit_properties=CommitProperties(custom_metadata={"tag": tag}))


def _tag_in_log(root: str, version: int) -> str:
    """The tag written in the commit file of ``version`` itself."""
    for line in (Path(root) / "_delta_log" / f"{version:020d}.json").read_text().splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            return action["commitInfo"]["tag"]
    raise AssertionError(f"no commitInfo in version {version}")


def _writer(root: str, started) -> None:
    started.set()
    for i in range(COMMITS):
        _commit(root, f"late{i}")


def test_a_commit_after_the_open_does_not_shift_the_versions(tmp_path):
    root = str(tmp_path / "t")
    for i in range(3):
        _commit(root, f"early{i}")
    table = DeltaTable(root)  # loaded at version 2
    _commit(root, "after-open")  # version 3, committed by another handle
    entries = commit_history(table)
    assert [(e["version"], e["tag"]) for e in entries] == [
        (3, "after-open"), (2, "early2"), (1, "early1"), (0, "early0")]
    assert table.version() == 3


def test_versions_stay_true_while_another_process_commits(tmp_path):
    root = str(tmp_path / "t")
    _commit(root, "first")
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    writer = ctx.Process(target=_writer, args=(root, started))
    writer.start()
    try:
        assert started.wait(60)
        readings = 0
        while writer.is_alive() or readings == 0:
            entries = commit_history(DeltaTable(root))
            for entry in entries[:5]:  # the newest commits are the ones a racing writer shifts
                assert entry["tag"] == _tag_in_log(root, entry["version"]), (entry["version"], entry["tag"])
            readings += 1
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    final = commit_history(DeltaTable(root))
    assert len(final) == COMMITS + 1 and final[0]["version"] == COMMITS
    assert all(e["tag"] == _tag_in_log(root, e["version"]) for e in final)
    assert readings > 3, f"only {readings} readings overlapped the writer"


class _CommitsWhileListed(DeltaTable):
    """A real table with a writer that commits during every history listing: it is never quiet."""

    def history(self, limit=None):
        entries = super().history(limit)
        _commit(self.table_uri, f"during{len(entries)}")
        return entries


def test_a_table_that_never_goes_quiet_fails_with_its_uri_after_the_deadline(tmp_path, monkeypatch):
    import core.lake

    root = str(tmp_path / "t")
    _commit(root, "first")
    monkeypatch.setattr(core.lake, "HISTORY_DEADLINE_S", 0.3)
    with pytest.raises(LakeReadError, match=r"kept changing while its history was read \(\d+ attempts") as err:
        commit_history(_CommitsWhileListed(root))
    assert str(err.value).startswith(f"file://{root}")  # names the table
    assert len(DeltaTable(root).history()) > 2  # it did retry, each attempt saw a new commit
