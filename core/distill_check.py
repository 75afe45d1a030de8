"""The distill determinism check on a sample of files.

Scores are re-computed for the sampled files' evidence, each with the whole partition's context
(duplicates and diagnostics), so a sampled score row is exactly what a full re-score gives.
Sessions are always taken whole: preference pairs join sessions of one task across files.
Datasets are compared as sets, because an example two records share keeps the evidence of the
lowest evidence id, which may lie outside the sample: every example the sample rebuilds is stored
with the same split and content, and every stored example made from sampled evidence alone is
rebuilt exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import polars as pl

from core.content_hash import content_hash, first_difference
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES
from core.distill import build_datasets, build_scores

EXAMPLE = ["dataset", "example_id", "split", "example"]


def sampled_records(records: pl.DataFrame, paths: Collection[str]) -> pl.DataFrame:
    """The records the sampled check re-scores: the sampled files' and every session."""
    return records.filter(pl.col("path").is_in(sorted(paths)) | (pl.col("kind") == "session"))


def distill_sample_differences(records: pl.DataFrame, paths: Collection[str], stored_scores: pl.DataFrame,
                               stored_datasets: pl.DataFrame, source: str, day: dt.date,
                               eval_ratio: float) -> list[str]:
    """What differs between the stored distill rows of the sample and their recomputation."""
    chosen = sampled_records(records, paths)["evidence_id"]
    scores = build_scores(records, source, day, only=set(chosen.to_list()))
    out = []
    mine = stored_scores.filter(pl.col("evidence_id").is_in(chosen.implode()))
    key, volatile = DISTILL_SCORES.key, DISTILL_SCORES.volatile
    if content_hash(mine, key, volatile) != content_hash(scores, key, volatile):
        out.append(f"{DISTILL_SCORES.table_id}: {first_difference(mine, scores, key, volatile)}")
    fresh = _flat(build_datasets(records, scores, source, day, eval_ratio))
    stored = _flat(stored_datasets)
    missing = fresh.select(EXAMPLE).join(stored.select(EXAMPLE), on=EXAMPLE, how="anti")
    if missing.height:
        out.append(f"{DISTILL_DATASETS.table_id}: {missing.height} examples rebuilt from the sample are not "
                   f"stored as they are, first {missing.sort('dataset', 'example_id').row(0, named=True)}")
    from_sample = stored.filter(pl.col("evidence_ids").list.eval(pl.element().is_in(chosen.implode())).list.all())
    unmatched = from_sample.join(fresh, on=[*EXAMPLE, "ids"], how="anti")
    if unmatched.height:
        row = unmatched.sort("dataset", "example_id").select(*EXAMPLE, "ids").row(0, named=True)
        out.append(f"{DISTILL_DATASETS.table_id}: {unmatched.height} stored examples of sampled evidence are not "
                   f"rebuilt, first {row}")
    return out


def _flat(datasets: pl.DataFrame) -> pl.DataFrame:
    """Datasets with their evidence ids also as one string, so rows can be joined whole."""
    return datasets.with_columns(pl.col("evidence_ids").list.join(",").alias("ids"))
