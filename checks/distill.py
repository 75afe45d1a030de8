"""Checks on distill/scores and distill/datasets."""

import dagster as dg
import orjson
import polars as pl

from assets.context import md_table
from checks.factories import PartitionCheck, PartitionReads, check_step, partition_check, schema_check
from core.check_sample import CheckSampleError, fraction_setting, sample_units
from core.content_hash import content_hash, first_difference
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES, EVIDENCE_RECORDS
from core.distill import DISTILL_INPUT, build_datasets, build_scores
from core.distill_check import distill_sample_differences, distill_units
from core.project import eval_ratio
from core.scoring import SCORER_VERSION

SCORES_KEY = dg.AssetKey(DISTILL_SCORES.asset_key)
DATASETS_KEY = dg.AssetKey(DISTILL_DATASETS.asset_key)
EVIDENCE_KEY = dg.AssetKey(EVIDENCE_RECORDS.asset_key)


def _current(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(pl.col("scorer_version") == SCORER_VERSION)


@partition_check(SCORES_KEY, "no_accepted_ungrounded", blocking=True, additional_deps=[EVIDENCE_KEY],
                 description="Alarm that must stay empty: an accepted session whose evidence is not "
                 "grounded_in_roster.")
def no_accepted_ungrounded(reads: PartitionReads) -> dg.AssetCheckResult:
    accepted = reads.table(DISTILL_SCORES).filter(
        (pl.col("kind") == "session") & (pl.col("category") == "accepted")).select("evidence_id", "scorer_version")
    # only the accepted sessions' payloads are read and parsed (1M kb lines: 545k sessions, ~30% accepted)
    records = reads.columns(EVIDENCE_RECORDS, ["evidence_id", "payload"], (pl.col("kind") == "session") & pl.col(
        "evidence_id").is_in(accepted["evidence_id"].implode()))
    grounded = {eid: orjson.loads(p).get("grounded_in_roster") is True for eid, p in records.iter_rows()}
    alarms = [{"evidence_id": e, "scorer_version": v} for e, v in accepted.iter_rows() if not grounded.get(e)]
    return dg.AssetCheckResult(passed=not alarms, metadata={"accepted_sessions": accepted.height,
                                                            "alarms": md_table(alarms)},
                               description=f"{len(alarms)} accepted sessions are not grounded" if alarms else None)


@partition_check(SCORES_KEY, "distill_referential", blocking=True, additional_deps=[EVIDENCE_KEY, DATASETS_KEY],
                 description="Every evidence_id in scores and datasets exists in evidence/records of the partition.")
def distill_referential(reads: PartitionReads) -> dg.AssetCheckResult:
    known = reads.columns(EVIDENCE_RECORDS, ["evidence_id"])
    used = pl.concat([reads.table(DISTILL_SCORES).select("evidence_id"),
                      reads.table(DISTILL_DATASETS).select(pl.col("evidence_ids").explode().alias("evidence_id"))])
    # joined in polars: sets of a 1M-line kb day's ids in Python took 1.3 s
    dangling = used.drop_nulls().unique().join(known, on="evidence_id", how="anti")["evidence_id"].sort().to_list()
    return dg.AssetCheckResult(passed=not dangling, metadata={"dangling": len(dangling)},
                               description=f"dangling evidence ids, e.g. {dangling[:3]}" if dangling else None)


@partition_check(SCORES_KEY, "distill_deterministic", additional_deps=[EVIDENCE_KEY, DATASETS_KEY],
                 description="Re-scoring and rebuilding the datasets in memory gives the stored rows: the content "
                 "hashes of both tables with EVIDENCE_LAKE_CHECK_SAMPLE=all; by default the rows of a seeded "
                 "sample of units (files, blocks of 1,000 stream lines, a session's task), each scored with the "
                 "whole partition's context.")
def distill_deterministic(reads: PartitionReads) -> dg.AssetCheckResult:
    partition = reads.partition
    records = reads.columns(EVIDENCE_RECORDS, [*DISTILL_INPUT, "line_offset"])
    try:
        fraction_setting()  # a bad setting fails the check before any payload is parsed for the units
        units = distill_units(records)
        sample = sample_units(units.unique().to_list(), partition[0], partition[1].isoformat())
    except CheckSampleError as exc:
        return dg.AssetCheckResult(passed=False, description=str(exc))
    metadata: dict = {"sample": sample.describe()}
    if not sample.whole:
        chosen = records["evidence_id"].filter(sample.rows(units))
        diffs = distill_sample_differences(records, chosen, _current(reads.table(DISTILL_SCORES)),
                                           _current(reads.table(DISTILL_DATASETS)), *partition, eval_ratio())
        return dg.AssetCheckResult(passed=not diffs, description="; ".join(diffs) or None, metadata=metadata)
    scores = build_scores(records, *partition)
    datasets = build_datasets(records, scores, *partition, eval_ratio())
    diffs = []
    for contract, fresh in ((DISTILL_SCORES, scores), (DISTILL_DATASETS, datasets)):
        stored = _current(reads.table(contract))
        a, b = (content_hash(x, contract.key, contract.volatile) for x in (stored, fresh))
        metadata[f"{contract.name}_hash"] = a
        if a != b:
            diffs.append(f"{contract.table_id}: {first_difference(stored, fresh, contract.key, contract.volatile)}")
    return dg.AssetCheckResult(passed=not diffs, description="; ".join(diffs) or None, metadata=metadata)


@partition_check(DATASETS_KEY, "split_stable", blocking=True,
                 description="An example already present in another partition of the source keeps its split.")
def split_stable(reads: PartitionReads) -> dg.AssetCheckResult:
    source, day = reads.partition
    # every day of this source, and only those: the filter prunes the scan to the source's files
    everything = reads.lake.read_columns(DISTILL_DATASETS, None, ["day", "dataset", "example_id", "split"],
                                         pl.col("source") == source, table=reads.snapshot(DISTILL_DATASETS))
    here = everything.filter(pl.col("day") == day)
    others = everything.filter(pl.col("day") != day).unique(["dataset", "example_id", "split"])
    moved = here.join(others, on=["dataset", "example_id"], how="inner", suffix="_elsewhere").filter(
        pl.col("split") != pl.col("split_elsewhere"))
    shared = here.join(others, on=["dataset", "example_id"], how="semi").height
    return dg.AssetCheckResult(passed=moved.height == 0, metadata={"examples": here.height, "seen_before": shared,
                                                                  "moved": md_table(moved.head(20).to_dicts())},
                               description=f"{moved.height} examples changed split" if moved.height else None)


DISTILL_RULES: list[PartitionCheck] = [schema_check(DISTILL_SCORES), schema_check(DISTILL_DATASETS),
                                       no_accepted_ungrounded, distill_referential, distill_deterministic,
                                       split_stable]
DISTILL_CHECKS = [check_step("distill_checks", DISTILL_RULES,
                             "Schema, grounding alarm, referential integrity, split stability and determinism "
                             "of distill/*.")]
