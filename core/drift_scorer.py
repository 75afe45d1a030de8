"""Scorer drift: a new scorer version against the previous one on the same evidence.

This is the drift kind the seed lakehouse shipped. Both versions scored the same evidence ids of
one partition, so the comparison is paired and has no sampling noise: every change is real. The
question is how large it is. The rows are report rows like the others, with
``baseline_mode = "scorer_version"``:

* ``scorer_score_shift``: mean |new - old| over the shared evidence; the details hold the share
  that changed and the evidence with the largest changes.
* ``scorer_category_flips``: the share of shared evidence whose category changed; the details
  hold the confusion table (old category -> new category -> count).
"""

from __future__ import annotations

import polars as pl

from core.drift import finish, report_row

TOP_CHANGES = 10
# (warn, drift): any change at all warns; a material one drifts
SHIFT = (1e-9, 0.05)
FLIPS = (1e-9, 0.05)


def version_key(version: str) -> tuple:
    """Order versions numerically where they are numbers ("1.10.0" after "1.9.0")."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.replace("-", ".").split("."))


def scorer_versions(scores: pl.DataFrame) -> list[str]:
    return sorted(set(scores["scorer_version"].to_list()), key=version_key)


def scorer_drift(scores: pl.DataFrame) -> tuple[list[dict], dict]:
    """Rows comparing the newest scorer version with the one before it; ([], {}) with fewer than two."""
    versions = scorer_versions(scores)
    if len(versions) < 2:
        return [], {}
    old, new = versions[-2], versions[-1]
    cols = ["evidence_id", "score", "category"]
    paired = (scores.filter(pl.col("scorer_version") == old).select(cols)
              .join(scores.filter(pl.col("scorer_version") == new).select(cols), on="evidence_id", suffix="_new"))
    only_old = scores.filter(pl.col("scorer_version") == old).height - paired.height
    only_new = scores.filter(pl.col("scorer_version") == new).height - paired.height
    n = paired.height
    info = {"old_version": old, "new_version": new, "shared": n, "only_old": only_old, "only_new": only_new}
    if n == 0:
        return [], {**info, "reason": "the two versions scored no evidence in common"}
    paired = paired.with_columns((pl.col("score_new") - pl.col("score")).alias("change"))
    mean_shift = float(paired["change"].abs().mean())
    changed = int((paired["change"] != 0).sum())
    top = (paired.with_columns(pl.col("change").abs().alias("size"))
           .filter(pl.col("size") > 0)
           .sort(["size", "evidence_id"], descending=[True, False]).head(TOP_CHANGES))
    largest = [{"evidence_id": r["evidence_id"], "old": r["score"], "new": r["score_new"],
                "old_category": r["category"], "new_category": r["category_new"]} for r in top.iter_rows(named=True)]
    confusion: dict[str, dict[str, int]] = {}
    pairs = ["category", "category_new"]
    for a, b, count in paired.group_by(pairs).len().sort(pairs).iter_rows():
        confusion.setdefault(a, {})[b] = count
    flips = int((paired["category"] != paired["category_new"]).sum())
    common = {"old_version": old, "new_version": new, "only_old": only_old, "only_new": only_new}
    rows = [
        report_row("scorer_score_shift", "mean_abs_change", mean_shift, None, {"effect": SHIFT}, SHIFT, [], n, n,
             details={**common, "changed": changed, "changed_share": changed / n, "largest_changes": largest}),
        report_row("scorer_category_flips", "flip_share", flips / n, None, {"effect": FLIPS}, FLIPS,
             sorted(confusion), n, n, details={**common, "flips": flips, "confusion": confusion}),
    ]
    return finish(rows), {**info, "confusion": confusion, "largest_changes": largest}
