"""Drift of one partition against its baseline: one report row per metric.

Test selection follows sample size (reference/domain-notes §1.4): p-value tests (KS for
scores, chi-square for categories) while the smaller side has at most SMALL_N rows (a pooled
reference window is large, the day under test is not), distances
(normed Wasserstein and PSI, Jensen-Shannon) above. A p-value alone never raises "drift":
the effect must also be material, so a large partition does not alarm on a trivial change.
Each row records what it needs to be recomputed: statistic, thresholds, bins, seed, n.

One evaluation tests several metrics at once, so their p-values are adjusted together with Holm's
step-down method (it controls the family-wise error rate and, unlike Benjamini-Hochberg's
guarantee, needs no independence: score and category come from the same rows). Raw and
adjusted p-values are both stored; the status uses the adjusted one.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import orjson
import polars as pl

from core.canonical import canonical_text
from core.drift_stats import chi_square, js_distance, ks_2samp, permutation_pvalue, psi, wasserstein_normed
from core.replay import latest_batch

SMALL_N = 1000
ALPHA = 0.001  # drift needs p below this (and a material effect)
WARN_ALPHA = 0.01  # warn needs p below this (and an effect above the warn threshold)
SEED = 20261124
PERMUTATIONS = 999

# metric -> (warn, drift) thresholds on the effect size. Calibrated on generated kb weeks (3 seeds x 10 days,
# ~110 scored rows a day, pinned and previous-day baselines): without drift KS D <= 0.214, category JS <= 0.22,
# recurring-vocabulary JS 0.23-0.28 (the noise floor at this size); with --drift-from, D >= 0.259, JS >= 0.241.
# Index builder 2 keeps hashes whole: their fragments were noise, and the floor fell to 0.19 (0.29 against a
# baseline indexed by builder 1, still below warn: an upgrade raises no vocabulary alarm; 0/225 false alarms).
EFFECT = {
    "ks": (0.2, 0.24),
    "wasserstein_normed": (0.1, 0.2),
    "psi": (0.1, 0.25),
    "js": (0.17, 0.2),
    "js_vocabulary": (0.35, 0.5),
    "delta": (0.05, 0.1),
}


@dataclass
class PartitionData:
    """What drift looks at for one partition (all optional: a missing family gives no row)."""

    scores: list[float] = field(default_factory=list)
    categories: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    vocabulary: dict[str, int] = field(default_factory=dict)
    hits: list[float] = field(default_factory=list)
    reciprocal_ranks: list[float] = field(default_factory=list)
    payload_schema: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, key, json type)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}.get(type(value), "unknown")


def gather(
    scores: pl.DataFrame, records: pl.DataFrame, terms: pl.DataFrame, runs: pl.DataFrame, scorer_version: str
) -> PartitionData:
    """PartitionData from the partition's tables (latest replay batch only)."""
    current = scores.filter(pl.col("scorer_version") == scorer_version)
    data = PartitionData(
        scores=current["score"].to_list(),
        categories=dict(Counter(current["category"].to_list())),
        kinds=dict(Counter(records["kind"].to_list())),
        # recurring vocabulary: terms in >= 2 documents (ids and hashes are one-offs and would swamp the metric)
        vocabulary=dict(
            terms.group_by("term")
            .agg(pl.col("tf").sum(), pl.len().alias("df"))
            .filter(pl.col("df") >= 2)
            .select("term", "tf")
            .iter_rows()
        )
        if terms.height
        else {},
    )
    if runs.height:
        batch = latest_batch(runs)
        data.hits = [float(h) for h in batch["hit_at_k"].to_list()]
        data.reciprocal_ranks = batch["reciprocal_rank"].to_list()
    streams = records.filter(pl.col("extractor") == "jsonl_stream").select("kind", "payload")
    for kind, payload in streams.iter_rows():
        record = orjson.loads(payload)
        data.payload_schema.update((kind, key, _json_type(value)) for key, value in record.items())
    return data


def status_for(p_value: float | None, effect: float, thresholds: tuple[float, float]) -> str:
    """ok / warn / drift from a (multiplicity-adjusted) p-value and an effect size."""
    warn, drift = thresholds
    if p_value is None:
        return "drift" if effect >= drift else "warn" if effect >= warn else "ok"
    if p_value < ALPHA and effect >= drift:
        return "drift"
    if p_value < WARN_ALPHA and effect >= warn:
        return "warn"
    return "ok"  # not significant, or significant but immaterial


def report_row(
    metric: str,
    statistic: str,
    value: float,
    p_value: float | None,
    threshold: dict,
    status: str,
    bins: object,
    n_baseline: int,
    n_current: int,
    seed: int | None = None,
    details: dict | None = None,
    effect: float | None = None,
) -> dict:
    """One report row; ``status`` is a tuple of thresholds while the p-value still needs adjusting."""
    return {
        "metric": metric,
        "statistic": statistic,
        "value": float(value),
        "p_value": p_value,
        "threshold": canonical_text(threshold),
        "status": status,
        "bins": canonical_text(bins),
        "n_baseline": n_baseline,
        "n_current": n_current,
        "seed": seed,
        "details": canonical_text(details or {}),
        "_effect": float(value) if effect is None else float(effect),
    }


def _numeric(metric: str, base: list[float], cur: list[float]) -> list[dict]:
    if not base or not cur:
        return []
    rows = []
    if min(len(base), len(cur)) <= SMALL_N:  # the smaller side decides: a pooled baseline is large
        d, p, method = ks_2samp(base, cur)
        rows.append(
            report_row(
                metric,
                f"ks_{method}",
                d,
                p,
                {"alpha": ALPHA, "warn_alpha": WARN_ALPHA, "effect": EFFECT["ks"]},
                EFFECT["ks"],
                [],
                len(base),
                len(cur),
            )
        )
    else:
        w = wasserstein_normed(base, cur)
        rows.append(
            report_row(
                metric,
                "wasserstein_normed",
                w,
                None,
                {"effect": EFFECT["wasserstein_normed"]},
                EFFECT["wasserstein_normed"],
                [],
                len(base),
                len(cur),
            )
        )
        value, edges = psi(base, cur)
        finite = [e if abs(e) != float("inf") else ("-inf" if e < 0 else "inf") for e in edges]
        rows.append(
            report_row(
                f"{metric}_psi",
                "psi",
                value,
                None,
                {"effect": EFFECT["psi"]},
                EFFECT["psi"],
                finite,
                len(base),
                len(cur),
            )
        )
    return rows


def _categorical(metric: str, base: dict[str, int], cur: dict[str, int]) -> list[dict]:
    n_b, n_c = sum(base.values()), sum(cur.values())
    if not n_b or not n_c:
        return []
    js = js_distance(base, cur)
    if min(n_b, n_c) <= SMALL_N:
        stat, p, merged = chi_square(base, cur)
        return [
            report_row(
                metric,
                "chi_square",
                stat,
                p,
                {"alpha": ALPHA, "warn_alpha": WARN_ALPHA, "effect_js": EFFECT["js"]},
                EFFECT["js"],
                sorted(merged["expected"]),
                n_b,
                n_c,
                details={"js_distance": js, "baseline": base, "current": cur},
                effect=js,
            )
        ]
    return [
        report_row(
            metric,
            "jensen_shannon",
            js,
            None,
            {"effect": EFFECT["js"]},
            EFFECT["js"],
            sorted(set(base) | set(cur)),
            n_b,
            n_c,
            details={"baseline": base, "current": cur},
        )
    ]


def _vocabulary(base: dict[str, int], cur: dict[str, int]) -> list[dict]:
    if not base or not cur:
        return []
    js = js_distance(base, cur)
    return [
        report_row(
            "vocabulary",
            "jensen_shannon",
            js,
            None,
            {"effect": EFFECT["js_vocabulary"]},
            EFFECT["js_vocabulary"],
            [],
            sum(base.values()),
            sum(cur.values()),
        )
    ]


def _mean_diff(a: list, b: list) -> float:
    return abs(sum(a) / len(a) - sum(b) / len(b))


def _replay(metric: str, base: list[float], cur: list[float]) -> list[dict]:
    if not base or not cur:
        return []
    delta = sum(cur) / len(cur) - sum(base) / len(base)
    p = permutation_pvalue(base, cur, _mean_diff, PERMUTATIONS, SEED)
    return [
        report_row(
            metric,
            "mean_delta",
            delta,
            p,
            {"alpha": ALPHA, "warn_alpha": WARN_ALPHA, "effect": EFFECT["delta"]},
            EFFECT["delta"],
            [],
            len(base),
            len(cur),
            seed=SEED,
            details={"baseline_mean": sum(base) / len(base), "current_mean": sum(cur) / len(cur)},
            effect=abs(delta),
        )
    ]


def _schema(base: set, cur: set) -> list[dict]:
    if not base or not cur:
        return []
    types_b: dict[tuple[str, str], set[str]] = {}
    types_c: dict[tuple[str, str], set[str]] = {}
    for kind, key, t in base:
        types_b.setdefault((kind, key), set()).add(t)
    for kind, key, t in cur:
        types_c.setdefault((kind, key), set()).add(t)
    shared_kinds = {k for k, _ in types_b} & {k for k, _ in types_c}
    added = sorted(f"{k}.{f}" for k, f in set(types_c) - set(types_b) if k in shared_kinds)
    removed = sorted(f"{k}.{f}" for k, f in set(types_b) - set(types_c) if k in shared_kinds)
    retyped = sorted(
        f"{k}.{f}" for k, f in set(types_b) & set(types_c) if types_b[(k, f)] - {"null"} != types_c[(k, f)] - {"null"}
    )
    status = "drift" if removed or retyped else "warn" if added else "ok"
    return [
        report_row(
            "payload_schema",
            "changed_fields",
            len(added) + len(removed) + len(retyped),
            None,
            {"drift": "any removed or retyped field", "warn": "any added field"},
            status,
            [],
            len(base),
            len(cur),
            details={"added": added, "removed": removed, "retyped": retyped},
        )
    ]


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error, valid for dependent tests) in input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def finish(rows: list[dict]) -> list[dict]:
    """Adjust the p-values of one evaluation together (Holm), then give every row its status."""
    tested = [i for i, r in enumerate(rows) if r["p_value"] is not None]
    for i, adjusted in zip(tested, holm([rows[i]["p_value"] for i in tested]), strict=True):
        rows[i]["p_value_adjusted"] = adjusted
    for row in rows:
        row.setdefault("p_value_adjusted", None)
        effect = row.pop("_effect")
        if isinstance(row["status"], tuple):
            row["status"] = status_for(row["p_value_adjusted"], effect, row["status"])
    return rows


def pool(parts: list[PartitionData]) -> PartitionData:
    """One baseline from several days: values concatenated, counts summed, schemas united."""
    out = PartitionData()
    for part in parts:
        out.scores += part.scores
        out.hits += part.hits
        out.reciprocal_ranks += part.reciprocal_ranks
        for mine, theirs in ((out.categories, part.categories), (out.kinds, part.kinds),
                             (out.vocabulary, part.vocabulary)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        out.payload_schema |= part.payload_schema
    return out


def evaluate(baseline: PartitionData, current: PartitionData) -> list[dict]:
    """Every metric that both sides have data for, p-values adjusted across them (Holm)."""
    for side, data in (("baseline", baseline), ("current", current)):
        bad = [x for x in data.scores if not math.isfinite(x)]
        if bad:  # the scorer never writes one and the schema check refuses it: reaching here is a bug
            raise ValueError(f"drift: the {side} has {len(bad)} value(s) that are not a finite score ({bad[0]!r})")
    return finish([
        *_numeric("score_distribution", baseline.scores, current.scores),
        *_categorical("category_mix", baseline.categories, current.categories),
        *_categorical("evidence_kind_mix", baseline.kinds, current.kinds),
        *_vocabulary(baseline.vocabulary, current.vocabulary),
        *_replay("replay_hit_at_k", baseline.hits, current.hits),
        *_replay("replay_mrr", baseline.reciprocal_ranks, current.reciprocal_ranks),
        *_schema(baseline.payload_schema, current.payload_schema),
    ])
