"""distill/scores and distill/datasets from one evidence partition."""

import dagster as dg
import polars as pl

from assets.context import current_partition, md_table
from assets.partitions import lake_partitions
from core.contracts import DISTILL_DATASETS, DISTILL_SCORES, EVIDENCE_RECORDS
from core.distill import DISTILL_INPUT, build_datasets, build_scores
from core.project import eval_ratio
from core.scoring import SCORER_VERSION
from resources.lake import LakeResource

SCOPE = {"write_scope": {"scorer_version": [SCORER_VERSION]}}  # a new version never removes the old one's rows


def score_histogram(scores: pl.DataFrame, bins: int = 10) -> dg.MetadataValue:
    """A markdown bar chart of scores (0.0-0.1 … 0.9-1.0), readable at a glance in the UI."""
    counts = [0] * bins
    for value in scores["score"].to_list():
        counts[min(int(value * bins), bins - 1)] += 1
    top = max(counts) or 1
    rows = [{"score": f"{i / bins:.1f}–{(i + 1) / bins:.1f}", "n": n, "": "█" * round(20 * n / top)}
            for i, n in enumerate(counts)]
    return md_table(rows, limit=bins)


@dg.multi_asset(
    outs={
        "scores": dg.AssetOut(key=DISTILL_SCORES.asset_key, description=DISTILL_SCORES.description,
                              kinds={"polars", "deltalake"}, metadata=SCOPE),
        "datasets": dg.AssetOut(key=DISTILL_DATASETS.asset_key, description=DISTILL_DATASETS.description,
                                kinds={"polars", "deltalake"}, metadata=SCOPE),
    },
    deps=[dg.AssetKey(EVIDENCE_RECORDS.asset_key)],
    partitions_def=lake_partitions,
    group_name="distill",
)
def distill(context: dg.AssetExecutionContext, lake: LakeResource):
    """Score every scorable evidence record (rubric v{SCORER_VERSION}) and build sft/preference/rag examples.

    Reads the four evidence columns it uses itself (not as a Dagster input, which the step would hold
    to its end), and drops them before the writes.
    """
    source, day = current_partition(context)
    records = lake.read_columns(EVIDENCE_RECORDS, [(source, day)], DISTILL_INPUT)
    scores = build_scores(records, source, day, report=context.log.info)
    datasets = build_datasets(records, scores, source, day, eval_ratio())
    del records
    categories = dict(sorted(scores.group_by("category").len().iter_rows()))
    sizes = {f"{d}/{s}": n for d, s, n in datasets.group_by("dataset", "split").len().sort("dataset", "split")
             .iter_rows()}
    context.log.info(f"scored {scores.height} records {categories}; examples {sizes}")
    yield dg.Output(scores, output_name="scores", metadata={
        "scorer_version": SCORER_VERSION,
        "category_counts": dg.MetadataValue.json(categories),
        "score_histogram": score_histogram(scores),
    })
    yield dg.Output(datasets, output_name="datasets", metadata={"dataset_sizes": dg.MetadataValue.json(sizes)})
