"""Does the lake still hold what was recorded as written? Lost commits and foreign edits, by name.

Every write of ours records, in its Delta commit metadata, the partitions it replaced and
their content hash; the orchestrator records the same hash and the committed version with
the materialisation. Comparing the two finds what no per-row check can: a commit file that
was deleted (the rows silently fall back to an older version), or a partition rewritten by a
tool that is not ours.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from deltalake import DeltaTable

from core.content_hash import content_hash
from core.contracts import TableContract
from core.lake import META_PREFIX, LakeReadError, Partition, commit_history, open_table, read_partitions


@dataclass(frozen=True)
class Recorded:
    """What the orchestrator recorded for one (table, partition): the version and content hash it wrote."""

    version: int
    content_hash: str
    rows: int | None = None  # rows the write carried, when known


@dataclass(frozen=True)
class PartitionCommit:
    version: int
    content_hash: str


def newest_commits(table: DeltaTable) -> tuple[dict[Partition, PartitionCommit], int | None]:
    """Per partition, the newest of our commits that wrote it; and the newest commit that is not ours."""
    newest: dict[Partition, PartitionCommit] = {}
    foreign: int | None = None
    for entry in commit_history(table):
        written = entry.get(f"{META_PREFIX}partitions")
        if written is None:
            if entry.get("operation") not in ("CREATE TABLE", None) and foreign is None:
                foreign = int(entry["version"])
            continue
        for source, day in json.loads(written):
            newest.setdefault((source, dt.date.fromisoformat(day)),
                              PartitionCommit(int(entry["version"]), entry.get(f"{META_PREFIX}content_hash", "")))
    return newest, foreign


MULTI = "*several partitions*"  # a commit that wrote several partitions hashes them together


def newest_commit_hashes(table: DeltaTable, up_to: int | None = None) -> dict[Partition, list[str]]:
    """Per partition, the content hashes our commits recorded for it, newest first (up to version ``up_to``).

    A commit that wrote several partitions at once recorded one hash over all of them; its
    entry is MULTI, which a reader of one partition cannot compare with.
    """
    out: dict[Partition, list[str]] = {}
    for entry in commit_history(table):
        written = entry.get(f"{META_PREFIX}partitions")
        if written is None or (up_to is not None and int(entry["version"]) > up_to):
            continue
        parts = json.loads(written)
        digest = entry.get(f"{META_PREFIX}content_hash", "") if len(parts) == 1 else MULTI
        for source, day in parts:
            out.setdefault((source, dt.date.fromisoformat(day)), []).append(digest)
    return out


class HistoryAudit:
    """Compares recorded writes with the lake, one table history read per table."""

    def __init__(self, root: str, storage_options: dict[str, str] | None = None) -> None:
        self.root, self.options = root, storage_options
        self._tables: dict[str, tuple[DeltaTable | None, dict, int | None]] = {}

    def _history(self, contract: TableContract):
        if contract.table_id not in self._tables:
            table = open_table(self.root, contract, self.options)
            self._tables[contract.table_id] = (table, *newest_commits(table)) if table else (None, {}, None)
        return self._tables[contract.table_id]

    def problem(self, contract: TableContract, partition: Partition, recorded: Recorded) -> str | None:
        """None when the lake holds what was recorded; otherwise one sentence naming table, partition and commit."""
        where = f"table {contract.table_id} partition {partition[0]}/{partition[1]}"
        try:
            table, newest, foreign = self._history(contract)
        except LakeReadError as exc:
            return f"{where}: {exc}"
        if contract.scope_columns and recorded.rows == 0:
            return None  # a ledger batch of no rows commits nothing (``write_partitions``): nothing to find
        if table is None:
            return f"{where}: the table is gone; the instance recorded version {recorded.version}"
        commit = newest.get(partition)
        if table.version() < recorded.version or commit is None or commit.version < recorded.version:
            now = f"its newest commit for this partition is {commit.version}" if commit else "no commit writes it"
            return (f"{where}: commit {recorded.version} missing (the instance recorded version {recorded.version}, "
                    f"content hash {recorded.content_hash[:12]}…; the log ends at version {table.version()} and "
                    f"{now}). Restore the commit file or re-materialise the partition")
        if commit.version == recorded.version and commit.content_hash != recorded.content_hash:
            return (f"{where}: content hash differs at version {commit.version}: the commit says "
                    f"{commit.content_hash[:12]}…, the instance recorded {recorded.content_hash[:12]}…")
        if contract.scope_columns or foreign is None or foreign < commit.version:
            return None  # ledgers are checked batch by batch by their own checks
        rows = read_partitions(self.root, contract, [partition], self.options, verify=False)
        actual = content_hash(rows, contract.key, contract.volatile)
        if actual != commit.content_hash:
            return (f"{where}: rewritten outside the lake's writer (commit {foreign} is not ours): its rows hash "
                    f"to {actual[:12]}…, our last commit {commit.version} wrote {commit.content_hash[:12]}…")
        return None
