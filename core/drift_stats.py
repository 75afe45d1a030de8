"""Drift statistics without scipy at run time (scipy pins them in the tests, to 1e-9).

* KS two-sample: exact p-value by counting lattice paths with Python integers when
  n1*n2 <= EXACT_KS_CELLS, else the Kolmogorov limit Q(sqrt(n1 n2/(n1+n2)) D).
* Wasserstein-1, normed by the baseline's standard deviation (Evidently's convention).
* PSI over quantile bin edges pinned on the baseline (the edges are returned to be stored).
* Chi-square test of homogeneity of the two count tables, with categories whose expected
  count is below 5 merged into one ``__other__`` bucket (itself folded into the smallest
  category until it expects at least 5).
* Jensen-Shannon distance (base 2, in [0, 1]).
* Permutation p-values as (b + 1) / (m + 1) with a recorded seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

import numpy as np

EXACT_KS_CELLS = 1_000_000
PSI_EPSILON = 1e-4
SMALL_EXPECTED = 5.0


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, str]:
    """(D, two-sided p-value, method) of the two-sample Kolmogorov-Smirnov test."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("KS needs at least one value on each side")
    grid = np.concatenate([x, y])
    cdf1 = np.searchsorted(x, grid, side="right") / n1
    cdf2 = np.searchsorted(y, grid, side="right") / n2
    d = float(np.max(np.abs(cdf1 - cdf2)))
    if n1 * n2 <= EXACT_KS_CELLS:
        return d, _ks_exact_p(n1, n2, d), "exact"
    en = n1 * n2 / (n1 + n2)
    return d, kolmogorov_sf(math.sqrt(en) * d), "asymptotic"


def _ks_exact_p(n1: int, n2: int, d: float) -> float:
    """P(D >= d) under H0: the share of monotone lattice paths that reach |i/n1 - j/n2| >= d."""
    g = math.gcd(n1, n2)
    a, b = n2 // g, n1 // g  # |i/n1 - j/n2| * lcm == |i*a - j*b|, with lcm = n1*n2/g
    h = round(d * (n1 // g) * n2)
    if h == 0:
        return 1.0
    row = [1] + [0] * n2  # paths to (0, j) that stayed inside
    for j in range(1, n2 + 1):
        row[j] = row[j - 1] if abs(-j * b) < h else 0
    for i in range(1, n1 + 1):
        row[0] = row[0] if abs(i * a) < h else 0
        for j in range(1, n2 + 1):
            row[j] = (row[j] + row[j - 1]) if abs(i * a - j * b) < h else 0
    inside = Fraction(row[n2], math.comb(n1 + n2, n1))
    return float(1 - inside)


def kolmogorov_sf(lam: float) -> float:
    """Q(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²): the limiting KS survival function."""
    if lam <= 0:
        return 1.0
    if lam < 0.2:  # the alternating series converges slowly here; the value is 1 to double precision
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * lam * lam)
        total += term if k % 2 else -term
        if term < 1e-17:
            break
    return min(1.0, max(0.0, 2.0 * total))


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """Wasserstein-1 distance between two empirical distributions."""
    x, y = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    values = np.sort(np.concatenate([x, y]))
    deltas = np.diff(values)
    cdf_x = np.searchsorted(x, values[:-1], side="right") / len(x)
    cdf_y = np.searchsorted(y, values[:-1], side="right") / len(y)
    return float(np.sum(np.abs(cdf_x - cdf_y) * deltas))


def wasserstein_normed(baseline: Sequence[float], current: Sequence[float]) -> float:
    """W1 divided by the baseline's standard deviation (0 if both are equal constants, 1 if not)."""
    distance = wasserstein(baseline, current)
    std = float(np.std(np.asarray(baseline, dtype=float)))
    if std > 0:
        return distance / std
    return 0.0 if distance == 0 else 1.0


def quantile_edges(baseline: Sequence[float], bins: int = 10) -> list[float]:
    """Bin edges at the baseline's quantiles (duplicates dropped), outer edges at ±inf."""
    qs = np.quantile(np.asarray(baseline, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    inner = sorted(set(float(q) for q in qs))
    return [-math.inf, *inner, math.inf]


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin [e_i, e_{i+1}) with the last bin closed."""
    inner = np.asarray(edges[1:-1], dtype=float)
    idx = np.searchsorted(inner, np.asarray(values, dtype=float), side="right")
    return np.bincount(idx, minlength=len(edges) - 1).astype(int).tolist()


def psi(baseline: Sequence[float], current: Sequence[float], bins: int = 10) -> tuple[float, list[float]]:
    """(PSI, edges): population stability index over bins pinned on the baseline."""
    edges = quantile_edges(baseline, bins)
    b = np.asarray(histogram(baseline, edges), dtype=float)
    c = np.asarray(histogram(current, edges), dtype=float)
    bp = np.maximum(b / b.sum(), PSI_EPSILON)
    cp = np.maximum(c / c.sum(), PSI_EPSILON)
    return float(np.sum((cp - bp) * np.log(cp / bp))), edges


def _gammaincc(s: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(s, x) (series below s+1, continued fraction above)."""
    if x <= 0:
        return 1.0
    log_prefix = s * math.log(x) - x - math.lgamma(s)
    if x < s + 1.0:
        term = total = 1.0 / s
        k = s
        for _ in range(10_000):
            k += 1.0
            term *= x / k
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b_ = x + 1.0 - s
    c = 1.0 / tiny
    d = 1.0 / b_
    h = d
    for i in range(1, 10_000):
        an = -i * (i - s)
        b_ += 2.0
        d = an * d + b_
        d = tiny if abs(d) < tiny else d
        c = b_ + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return math.exp(log_prefix) * h


def chi2_sf(x: float, dof: int) -> float:
    return _gammaincc(dof / 2.0, x / 2.0)


def chi_square(baseline: Mapping[str, int], current: Mapping[str, int]) -> tuple[float, float, dict]:
    """(statistic, p-value, merged) of the chi-square test of homogeneity of two count tables.

    A two-sample test: expected counts come from both sides pooled, so a category the baseline
    never saw has a real expectation and counts as change (a goodness-of-fit test against the
    baseline's proportions would give it zero expectation and merge it away). Categories with
    an expected count below 5 on either side are merged into ``__other__``, which is folded into
    the smallest category until it expects at least 5 on both sides.
    """
    n_base, n_cur = sum(baseline.values()), sum(current.values())
    if n_base == 0 or n_cur == 0:
        raise ValueError("chi-square needs counts on both sides")
    total = n_base + n_cur
    keys = sorted(set(baseline) | set(current))

    def low(b: float, c: float) -> bool:
        both = b + c
        return min(n_base * both / total, n_cur * both / total) < SMALL_EXPECTED

    obs_b: dict[str, float] = {}
    obs_c: dict[str, float] = {}
    for key in keys:
        target = "__other__" if low(baseline.get(key, 0), current.get(key, 0)) else key
        obs_b[target] = obs_b.get(target, 0) + baseline.get(key, 0)
        obs_c[target] = obs_c.get(target, 0) + current.get(key, 0)
    while "__other__" in obs_b and low(obs_b["__other__"], obs_c["__other__"]) and len(obs_b) > 1:
        smallest = min((k for k in obs_b if k != "__other__"), key=lambda k: (obs_b[k] + obs_c[k], k))
        obs_b["__other__"] += obs_b.pop(smallest)
        obs_c["__other__"] += obs_c.pop(smallest)
    expected = {k: n_cur * (obs_b[k] + obs_c[k]) / total for k in obs_b}
    merged = {"baseline": obs_b, "current": obs_c, "expected": expected}
    if len(obs_b) < 2:
        return 0.0, 1.0, merged
    stat = 0.0
    for k in obs_b:
        column = obs_b[k] + obs_c[k]
        for observed, row in ((obs_b[k], n_base), (obs_c[k], n_cur)):
            exp = row * column / total
            stat += (observed - exp) ** 2 / exp
    return stat, chi2_sf(stat, len(obs_b) - 1), merged


def js_distance(p_counts: Mapping[str, float], q_counts: Mapping[str, float]) -> float:
    """Jensen-Shannon distance (base 2) between two count vectors over the union of keys."""
    keys = sorted(set(p_counts) | set(q_counts))
    p = np.asarray([p_counts.get(k, 0.0) for k in keys], dtype=float)
    q = np.asarray([q_counts.get(k, 0.0) for k in keys], dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        raise ValueError("Jensen-Shannon needs mass on both sides")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2.0

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2.0))


def permutation_pvalue(a: Sequence[float], b: Sequence[float], statistic: Callable[[list, list], float],
                       permutations: int = 999, seed: int = 0) -> float:
    """(b + 1) / (m + 1): never 0, reproducible from the recorded seed."""
    rng = random.Random(seed)
    observed = statistic(list(a), list(b))
    pooled = list(a) + list(b)
    hits = 0
    for _ in range(permutations):
        rng.shuffle(pooled)
        if statistic(pooled[: len(a)], pooled[len(a):]) >= observed:
            hits += 1
    return (hits + 1) / (permutations + 1)
