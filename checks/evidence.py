"""Checks on evidence/records and evidence/rejects."""

import hashlib
import zlib

import dagster as dg
import polars as pl

from assets.context import md_table, utc_now
from checks.factories import PartitionCheck, PartitionReads, check_step, partition_check, schema_check
from core.accounting import account
from core.check_sample import CheckSampleError, file_units, sample_units
from core.content_hash import content_hash, first_difference
from core.contracts import EVIDENCE_RECORDS, EVIDENCE_REJECTS, SNAPSHOT_FILES
from core.evidence import build_evidence

RECORDS_KEY = dg.AssetKey(EVIDENCE_RECORDS.asset_key)
REJECTS_KEY = dg.AssetKey(EVIDENCE_REJECTS.asset_key)
FILES_KEY = dg.AssetKey(SNAPSHOT_FILES.asset_key)


@partition_check(RECORDS_KEY, "evidence_records_crc", blocking=True,
                 description="Recompute payload_sha256 and payload_crc32 of every row from its payload bytes.")
def evidence_records_crc(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    rows = reads.table(EVIDENCE_RECORDS).select("evidence_id", "path", "payload", "payload_sha256",
                                                           "payload_crc32")
    bad = []
    for eid, path, payload, sha, crc in rows.iter_rows():
        data = payload.encode("utf-8")
        if hashlib.sha256(data).hexdigest() != sha or (zlib.crc32(data) & 0xFFFFFFFF) != crc:
            bad.append({"evidence_id": eid, "path": path, "payload_sha256": sha, "payload_crc32": crc})
    first = f"; first: evidence {bad[0]['evidence_id']} of {bad[0]['path']}" if bad else ""
    return dg.AssetCheckResult(
        passed=not bad, description=(f"{len(bad)} of {rows.height} payloads in {partition[0]}/{partition[1]} do not "
                                     f"match their hashes{first}") if bad else None,
        metadata={"rows_verified": rows.height, "failures": md_table(bad)},
    )


@partition_check(RECORDS_KEY, "evidence_records_unique", blocking=True,
                 description="evidence_id is unique within the partition.")
def evidence_records_unique(reads: PartitionReads) -> dg.AssetCheckResult:
    ids = reads.table(EVIDENCE_RECORDS).select("evidence_id", "path", "kind")
    dups = ids.filter(pl.col("evidence_id").is_duplicated()).sort("evidence_id")
    return dg.AssetCheckResult(passed=dups.height == 0, metadata={"rows": ids.height, "duplicates": md_table(
        dups.head(20).to_dicts())}, description=f"{dups.height} rows share an evidence_id" if dups.height else None)


@partition_check(RECORDS_KEY, "evidence_accounting", blocking=True, additional_deps=[REJECTS_KEY, FILES_KEY],
                 description="Every snapshot file / stream line is evidence or a reject: nothing is lost.")
def evidence_accounting(reads: PartitionReads) -> dg.AssetCheckResult:
    source = reads.sources.get(reads.partition[0])
    tally = account(source.kind, reads.table(SNAPSHOT_FILES), reads.table(EVIDENCE_RECORDS),
                    reads.table(EVIDENCE_REJECTS))
    problems = tally.pop("problems")
    return dg.AssetCheckResult(passed=not problems, description="; ".join(problems[:5]) or None,
                               metadata={**tally, "problems": len(problems)})


@partition_check(RECORDS_KEY, "evidence_records_deterministic", additional_deps=[REJECTS_KEY, FILES_KEY],
                 description="Re-extract the partition's files from its snapshot in memory, without reuse: the "
                 "records and rejects of those files have the stored content hashes. A seeded, partition-keyed "
                 "sample of units (files; blocks of 1,000 lines of a stream file) by default "
                 "(EVIDENCE_LAKE_CHECK_SAMPLE, default 0.1, at least 100 units); everything with "
                 "EVIDENCE_LAKE_CHECK_SAMPLE=all.")
def evidence_records_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    source = reads.sources.get(partition[0])
    files = reads.table(SNAPSHOT_FILES)
    try:
        sample = sample_units(file_units(files), partition[0], partition[1].isoformat())
    except CheckSampleError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc))
    chosen = sample.rows()
    blocks = None if sample.whole or source.kind != "jsonl" else sample.blocks()
    fresh = build_evidence(partition[0], source.kind, partition[1],
                           files.filter(pl.col("path").is_in(sorted(sample.files()))), reads.lake.objects(),
                           source.event_time_field, utc_now(), prior=None, blocks=blocks)
    metadata: dict = {"sample": sample.describe(), "units_recomputed": len(sample.units)}
    diffs = []
    for contract, stored, rebuilt in ((EVIDENCE_RECORDS, reads.table(EVIDENCE_RECORDS), fresh.records),
                                      (EVIDENCE_REJECTS, reads.table(EVIDENCE_REJECTS), fresh.rejects)):
        stored = stored if sample.whole else stored.filter(chosen)
        a = content_hash(stored, contract.key, contract.volatile)
        b = content_hash(rebuilt, contract.key, contract.volatile)
        metadata[f"{contract.name}_stored_hash"] = a
        metadata[f"{contract.name}_recomputed_hash"] = b
        if a != b:
            diffs.append(f"{contract.table_id}: {first_difference(stored, rebuilt, contract.key, contract.volatile)}")
    return dg.AssetCheckResult(passed=not diffs, description="; ".join(diffs) or None, metadata=metadata)


EVIDENCE_RULES: list[PartitionCheck] = [
    schema_check(EVIDENCE_RECORDS),
    schema_check(EVIDENCE_REJECTS),
    evidence_records_crc,
    evidence_records_unique,
    evidence_accounting,
    evidence_records_deterministic,
]

EVIDENCE_CHECKS = [check_step("evidence_checks", EVIDENCE_RULES,
                              "Schema, CRC, uniqueness, accounting and determinism of evidence/records and rejects.")]
