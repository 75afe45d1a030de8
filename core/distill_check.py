"""The distill determinism check on a sample of units.

A unit is a file or a block of stream lines (``core.check_sample.sample_unit``), but a session's
unit is its task: preference pairs join the sessions of one task across files and lines, so a task's
sessions are sampled together. Scores are re-computed for the sampled units' evidence, each with the
whole partition's context (duplicates and diagnostics), so a sampled score row is exactly what a full
re-score gives. Datasets are compared as sets, because an example two records share keeps the evidence of the
lowest evidence id, which may lie outside the sample: every example the sample rebuilds is stored
with the same split and content, and every stored example made from sampled evidence alone is
rebuilt exactly.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from core.check_sample import sample_unit, task_unit
from core.content_hash import content_hash, first_difference
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES
from core.distill import build_datasets, build_scores, parsed_payload, session_task

EXAMPLE = ["dataset", "example_id", "split", "example"]


def distill_units(records: pl.DataFrame) -> pl.Series:
    """Each record's sample unit (``records`` need kind, path, line_offset and payload): a session with a
    task (as ``build_datasets`` reads it) has its task, every other record its ``sample_unit``."""
    units = records.select(sample_unit())["unit"]
    sessions = (records["kind"] == "session").arg_true()
    if sessions.len() == 0:
        return units
    tasks = []
    for text in records["payload"].gather(sessions).to_list():
        task = session_task(parsed_payload(text))
        tasks.append(None if task is None else task_unit(task))
    by_task = pl.Series("unit", tasks, dtype=pl.Utf8)
    return units.scatter(sessions, by_task.fill_null(units.gather(sessions)))


def distill_sample_differences(records: pl.DataFrame, chosen: pl.Series, stored_scores: pl.DataFrame,
                               stored_datasets: pl.DataFrame, source: str, day: dt.date,
                               eval_ratio: float) -> list[str]:
    """What differs between the stored distill rows of the sampled evidence (``chosen``: its ids) and their
    recomputation."""
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
