"""Drift statistics pinned against scipy (a test-only dependency) to 1e-9."""

import math
import random

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from core.drift_stats import (
    chi2_sf,
    chi_square,
    histogram,
    js_distance,
    kolmogorov_sf,
    ks_2samp,
    permutation_pvalue,
    psi,
    quantile_edges,
    wasserstein,
    wasserstein_normed,
)


def _samples(seed, n1, n2, shift=0.0, ties=False):
    rng = random.Random(seed)
    a = [rng.gauss(0, 1) for _ in range(n1)]
    b = [rng.gauss(shift, 1.2) for _ in range(n2)]
    if ties:
        a, b = [round(v, 1) for v in a], [round(v, 1) for v in b]
    return a, b


@pytest.mark.parametrize(("n1", "n2", "shift", "ties"), [
    (5, 5, 1.5, False), (8, 13, 0.5, False), (30, 30, 0.0, True), (40, 75, 0.8, False), (120, 90, 0.2, True),
    (200, 200, 0.1, False), (3, 50, 1.0, False),
])
@pytest.mark.filterwarnings("error::RuntimeWarning")  # scipy must stay exact, not fall back to asymptotic
def test_ks_exact_matches_scipy(n1, n2, shift, ties):
    a, b = _samples(n1 * 7 + n2, n1, n2, shift, ties)
    d, p, method = ks_2samp(a, b)
    ref = stats.ks_2samp(a, b, method="exact")
    assert method == "exact"
    assert d == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=1e-9)


def test_ks_large_samples_use_the_kolmogorov_limit():
    a, b = _samples(3, 1500, 1200, 0.05)
    d, p, method = ks_2samp(a, b)
    en = 1500 * 1200 / 2700
    assert method == "asymptotic"
    assert p == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * d), abs=1e-9)
    for lam in (0.2, 0.5, 0.8, 1.0, 1.36, 2.0, 3.0):
        assert kolmogorov_sf(lam) == pytest.approx(stats.kstwobign.sf(lam), abs=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_matches_scipy(seed):
    a, b = _samples(seed, 50 + seed * 40, 70, shift=0.3 * seed)
    assert wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b), abs=1e-9)
    assert wasserstein_normed(a, b) == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), abs=1e-9)
    assert wasserstein_normed([1, 1], [1, 1]) == 0.0 and wasserstein_normed([1, 1], [2, 2]) == 1.0


@pytest.mark.parametrize(("x", "dof"), [(0.5, 1), (3.84, 1), (10.0, 3), (25.0, 10), (0.01, 5), (200.0, 50),
                                        (1e-6, 2), (60.0, 7)])
def test_chi2_survival_matches_scipy(x, dof):
    assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), abs=1e-9, rel=1e-9)


def test_a_category_the_baseline_never_saw_is_change_not_merged_away():
    stat, p, merged = chi_square({"accepted": 40}, {"accepted": 20, "needs_human_review": 20})
    ref = stats.chi2_contingency([[40, 0], [20, 20]], correction=False)
    assert "needs_human_review" in merged["expected"] and p < 1e-6
    assert stat == pytest.approx(ref.statistic, abs=1e-9) and p == pytest.approx(ref.pvalue, abs=1e-12)


def test_chi_square_with_small_count_rule_matches_scipy_on_the_merged_bins():
    baseline = {"accepted": 60, "rejected": 30, "partially_accepted": 8, "needs_human_review": 2}
    current = {"accepted": 30, "rejected": 55, "partially_accepted": 10, "needs_human_review": 3, "brand_new": 2}
    stat, p, merged = chi_square(baseline, current)
    keys = sorted(merged["expected"])
    assert "__other__" in keys and "needs_human_review" not in keys and "brand_new" not in keys
    table = [[merged["baseline"][k] for k in keys], [merged["current"][k] for k in keys]]
    ref = stats.chi2_contingency(table, correction=False)
    assert stat == pytest.approx(ref.statistic, abs=1e-9) and p == pytest.approx(ref.pvalue, abs=1e-9)
    assert sum(merged["baseline"].values()) == 100 and sum(merged["current"].values()) == 100  # nothing lost
    same = chi_square(baseline, baseline)
    assert same[0] == pytest.approx(0.0) and same[1] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_jensen_shannon_matches_scipy(seed):
    rng = random.Random(seed)
    keys = [f"k{i}" for i in range(12)]
    p = {k: rng.randint(0, 50) for k in keys[:10]}
    q = {k: rng.randint(0, 50) for k in keys[2:]}
    pv = [p.get(k, 0) for k in keys]
    qv = [q.get(k, 0) for k in keys]
    assert js_distance(p, q) == pytest.approx(jensenshannon(pv, qv, base=2), abs=1e-9)
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-12)


def test_psi_edges_are_pinned_on_the_baseline():
    a, b = _samples(11, 500, 500, shift=0.5)
    value, edges = psi(a, b)
    assert edges == quantile_edges(a) and edges[0] == -math.inf and edges[-1] == math.inf
    assert sum(histogram(a, edges)) == 500
    assert value > psi(a, _samples(12, 500, 500)[0])[0] >= 0.0
    bins = np.asarray(histogram(a, edges)) / 500
    cur = np.asarray(histogram(b, edges)) / 500
    bins, cur = np.maximum(bins, 1e-4), np.maximum(cur, 1e-4)
    assert value == pytest.approx(float(np.sum((cur - bins) * np.log(cur / bins))), abs=1e-12)


def test_permutation_pvalue_is_conservative_and_seeded():
    def diff(x, y):
        return abs(sum(x) / len(x) - sum(y) / len(y))

    a, b = [0.0] * 20, [1.0] * 20
    p = permutation_pvalue(a, b, diff, permutations=199, seed=7)
    assert p == pytest.approx(1 / 200) and p > 0
    assert permutation_pvalue(a, a, diff, 99, seed=1) == 1.0
    x, y = _samples(5, 30, 30, 0.2)
    assert permutation_pvalue(x, y, diff, 99, seed=3) == permutation_pvalue(x, y, diff, 99, seed=3)
