"""Checks on raw/snapshots and raw/snapshot_files."""

import dagster as dg
import polars as pl

from assets.context import md_table, utc_now
from checks.factories import PartitionCheck, PartitionReads, check_step, partition_check, schema_check
from core.canonical import crc32
from core.content_hash import content_hash, first_difference
from core.contracts import SNAPSHOT_FILES, SNAPSHOTS
from core.objects import ObjectCorruptError, ObjectMissingError
from core.snapshot import (
    PartitionRefused,
    build_snapshot,
    read_entries,
    snapshot_id_from_files,
    utc_today,
)

FILES_KEY = dg.AssetKey(SNAPSHOT_FILES.asset_key)
SNAPS_KEY = dg.AssetKey(SNAPSHOTS.asset_key)


@partition_check(
    FILES_KEY,
    "snapshot_files_crc",
    blocking=True,
    description="Re-hash every stored object of the partition: sha256 = object, crc32 and size match.",
)
def snapshot_files_crc(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    files = reads.table(SNAPSHOT_FILES).filter(pl.col("status") == "stored")
    store = reads.lake.objects()
    bad = []
    for path, obj, size, crc in files.select("path", "object", "size", "crc32").iter_rows():
        try:
            data = store.get(obj)
        except (ObjectCorruptError, ObjectMissingError) as exc:
            bad.append({"path": path, "object": obj, "problem": str(exc)})
            continue
        if len(data) != size or crc32(data) != crc:
            bad.append(
                {
                    "path": path,
                    "object": obj,
                    "problem": f"size/crc32 {len(data)}/{crc32(data)} != recorded {size}/{crc}",
                }
            )
    if bad:  # name every partition that references a bad object, so the blast radius is visible
        everywhere = reads.lake.read(SNAPSHOT_FILES, table=reads.snapshot(SNAPSHOT_FILES)).filter(
            pl.col("object").is_in([b["object"] for b in bad]))
        refs: dict[str, list[str]] = {}
        for obj, source, day in everywhere.select("object", "source", "day").unique().sort("source", "day").iter_rows():
            refs.setdefault(obj, []).append(f"{source}/{day}")
        for b in bad:
            b["referenced_by"] = ", ".join(refs.get(b["object"], []))
    return dg.AssetCheckResult(
        passed=not bad,
        description=None if not bad else (
            f"{len(bad)} of {files.height} stored objects fail verification in {partition[0]}/{partition[1]}; "
            f"first: path {bad[0]['path']}, object {bad[0]['object']} (referenced by "
            f"{bad[0]['referenced_by']}): {bad[0]['problem']}"),
        metadata={"objects_verified": files.height, "failures": md_table(bad)},
    )


@partition_check(
    SNAPS_KEY,
    "snapshots_crc",
    blocking=True,
    additional_deps=[FILES_KEY],
    description="snapshot_id recomputes from the file index; counts and bytes reconcile with it.",
)
def snapshots_crc(reads: PartitionReads) -> dg.AssetCheckResult:
    snaps = reads.table(SNAPSHOTS)
    files = reads.table(SNAPSHOT_FILES)
    if snaps.height != 1:
        return dg.AssetCheckResult(passed=False, description=f"expected 1 snapshot row, found {snaps.height}")
    snap = snaps.row(0, named=True)
    recomputed = snapshot_id_from_files(snap["source_kind"], files)  # from stored rows, no source access
    stored = files.filter(pl.col("status") == "stored")
    problems = []
    if recomputed != snap["snapshot_id"]:
        problems.append(f"snapshot_id {snap['snapshot_id']} != recomputed {recomputed}")
    if set(files["snapshot_id"].unique().to_list()) - {snap["snapshot_id"]}:
        problems.append("snapshot_files rows carry another snapshot_id")
    if files.height != snap["file_count"]:
        problems.append(f"file_count {snap['file_count']} != {files.height} file rows")
    if stored.height != snap["stored_count"]:
        problems.append(f"stored_count {snap['stored_count']} != {stored.height} stored rows")
    if int(stored["size"].sum() or 0) != snap["total_bytes"]:
        problems.append(f"total_bytes {snap['total_bytes']} != sum of stored sizes {int(stored['size'].sum() or 0)}")
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={"snapshot_id": snap["snapshot_id"], "file_rows": files.height},
    )


def _reread(reads: PartitionReads):
    """The partition's snapshot taken again from the source in memory, once per check step (both
    determinism checks compare against it), or the PartitionRefused that says it cannot be."""
    if "reread_snapshot" not in reads.memo:
        source = reads.sources.get(reads.partition[0])
        try:
            entries, as_of = read_entries(source, reads.partition[1], utc_today())
        except PartitionRefused as exc:
            reads.memo["reread_snapshot"] = exc
        else:
            stored = reads.table(SNAPSHOTS)  # taken_at is volatile: the stored one keeps the rows comparable
            taken_at = stored["taken_at"][0] if stored.height else None
            reads.memo["reread_snapshot"] = build_snapshot(source, reads.partition[1], entries, as_of,
                                                           taken_at or utc_now(), store=None)
    return reads.memo["reread_snapshot"]


def _determinism(reads: PartitionReads, contract) -> dg.AssetCheckResult:
    stored = reads.table(contract)
    rebuilt = _reread(reads)
    if isinstance(rebuilt, PartitionRefused):
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not re-verifiable today: {rebuilt}",
            metadata={"verified": False},
        )
    fresh = rebuilt.files if contract is SNAPSHOT_FILES else rebuilt.snapshot
    expected = content_hash(stored, contract.key, contract.volatile)
    actual = content_hash(fresh, contract.key, contract.volatile)
    diff = None if expected == actual else first_difference(stored, fresh, contract.key, contract.volatile)
    return dg.AssetCheckResult(
        passed=expected == actual,
        description=None if diff is None else f"re-reading the source gives different rows: {diff}",
        metadata={"stored_hash": expected, "recomputed_hash": actual, "rows": stored.height, "verified": True},
    )


@partition_check(
    FILES_KEY,
    "snapshot_files_deterministic",
    description="Re-read the source for the partition in memory; the content hash must match.",
)
def snapshot_files_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    return _determinism(reads, SNAPSHOT_FILES)


@partition_check(
    SNAPS_KEY,
    "snapshots_deterministic",
    description="Re-read the source for the partition in memory; snapshot_id and totals must match.",
)
def snapshots_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    return _determinism(reads, SNAPSHOTS)


@partition_check(
    FILES_KEY,
    "snapshot_files_unique",
    description="path is unique (error); path_key is unique, i.e. no case/Unicode collisions (warn).",
)
def snapshot_files_unique(reads: PartitionReads) -> dg.AssetCheckResult:
    files = reads.table(SNAPSHOT_FILES)
    dup_paths = files.group_by("path").len().filter(pl.col("len") > 1)
    if dup_paths.height:
        return dg.AssetCheckResult(
            passed=False,
            description=f"{dup_paths.height} paths appear more than once",
            metadata={"duplicates": md_table(dup_paths.to_dicts())},
        )
    clashes = (
        files.group_by("path_key")
        .agg(pl.col("path").sort().alias("paths"), pl.len().alias("n"))
        .filter(pl.col("n") > 1)
        .sort("path_key")
    )
    if clashes.height:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{clashes.height} path_key collisions: these files clash on a case-insensitive disk",
            metadata={
                "collisions": md_table([{"path_key": k, "paths": ", ".join(p)} for k, p, _ in clashes.iter_rows()])
            },
        )
    return dg.AssetCheckResult(passed=True, metadata={"rows": files.height})


@partition_check(
    SNAPS_KEY,
    "snapshots_unique",
    blocking=True,
    description="Exactly one snapshot row per (source, day).",
)
def snapshots_unique(reads: PartitionReads) -> dg.AssetCheckResult:
    n = reads.table(SNAPSHOTS).height
    return dg.AssetCheckResult(
        passed=n == 1, description=None if n == 1 else f"{n} rows for one partition", metadata={"rows": n}
    )


SNAPSHOT_RULES: list[PartitionCheck] = [
    schema_check(SNAPSHOTS),
    schema_check(SNAPSHOT_FILES),
    snapshot_files_crc,
    snapshots_crc,
    snapshot_files_deterministic,
    snapshots_deterministic,
    snapshot_files_unique,
    snapshots_unique,
]

SNAPSHOT_CHECKS = [check_step("snapshot_checks", SNAPSHOT_RULES,
                              "Schema, CRC, uniqueness and determinism of raw/snapshots and raw/snapshot_files.")]
