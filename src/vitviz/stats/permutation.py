"""Feature-level comparisons: the difference of two means over features, its interval and a two-sided
permutation p-value.

- `paired_comparison`: two conditions measured on the same features (MIS with visualisations against MIS with
  natural exemplars). Statistic: the mean of the per-feature differences d_i; under no difference each d_i is
  as likely to have either sign, so the null distribution flips signs: exactly over all 2^n sign patterns when
  2^n <= max_exact (n <= 16), else by `n_perm` seeded random patterns. Interval: the skewness-corrected t over
  the d_i (intervals.hall_bounds); measured coverage 0.937-0.964 from n = 3 on (benchmarks/stats_coverage.py).
- `unpaired_comparison`: two groups of different features (FFN against attn.v). Statistic: mean(a) - mean(b);
  the null relabels features: exactly over all C(n_a + n_b, n_a) splits when that is <= max_exact (8 against 8
  is exact, 10 against 10 is not), else by `n_perm` seeded random splits. The null is that the two groups'
  scores are exchangeable (one distribution), not only that their means are equal. Interval: Welch's t;
  measured coverage 0.934-0.961 from n = 3 on (groups of n and 2n).

p-values: exact, the share of patterns (the observed one included) whose |statistic| reaches the observed
|statistic| (up to 1e-9 relative, for ties in floating point); Monte Carlo, (1 + hits) / (1 + n_perm), which
keeps the false-positive rate at or below alpha (Phipson & Smyth 2010). `min_p` is the smallest p the test
can give at these n: 2 / 2^n paired (n >= 6 is needed for p < 0.05), 1 / C (2 / C for equal groups) unpaired
(3 against 3: 2 / 20 = 0.1; 3 against 4: 1 / 35).
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from vitviz.stats.intervals import LEVEL, MIN_FEATURES, hall_bounds
from vitviz.stats.tdist import t_quantile

MAX_EXACT = 100_000
N_PERM = 20_000
_REL = 1e-9


@dataclass(frozen=True)
class Comparison:
    """mean_a - mean_b with its interval (NaN below the minimum n) and the two-sided permutation p-value."""
    mean_a: float
    mean_b: float
    difference: float
    lo: float
    hi: float
    p: float
    n_a: int
    n_b: int
    paired: bool
    exact: bool
    permutations: int
    min_p: float
    level: float
    enough: bool
    p_raw: float | None = None      # the test's own p when `p` is adjusted for a family of tests
    family: int = 1                 # the number of tests `p` is adjusted over (Holm), 1: unadjusted


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment of p-values for a family of tests (controls the family-wise error rate)."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def holm_family(comparisons: list[Comparison]) -> list[Comparison]:
    """The comparisons with their p-values Holm-adjusted over those that could be tested (the others unchanged)."""
    tested = [i for i, c in enumerate(comparisons) if c.enough and c.p == c.p]
    adjusted = holm([comparisons[i].p for i in tested])
    out = list(comparisons)
    for i, p in zip(tested, adjusted):
        out[i] = dataclasses.replace(comparisons[i], p=p, p_raw=comparisons[i].p, family=len(tested),
                                     min_p=min(1.0, comparisons[i].min_p * len(tested)))
    return out


def _p_value(null: np.ndarray, observed: float, exact: bool) -> float:
    hits = int((np.abs(null) >= abs(observed) * (1 - _REL) - 1e-12).sum())
    return hits / len(null) if exact else (1 + hits) / (1 + len(null))


def paired_comparison(a, b, level: float = LEVEL, min_n: int = MIN_FEATURES, max_exact: int = MAX_EXACT,
                      n_perm: int = N_PERM, seed: int = 0) -> Comparison:
    """Paired sign-flip test of mean(a - b) over the features where both a and b are known."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    d = a - b
    n = len(d)
    if n == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0, True, True, 0, 1.0,
                          level, False)
    observed = float(d.mean())
    exact = 2 ** n <= max_exact
    if exact:
        signs = 1 - 2 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = 1 - 2 * np.random.default_rng(seed).integers(0, 2, size=(n_perm, n))
    null = (signs * d).mean(1)
    p = _p_value(null, observed, exact)
    enough = n >= max(min_n, 2)
    lo = hi = math.nan
    if enough:
        _, lo, hi = (float(v) for v in hall_bounds(d, level))
    min_p = 2 / 2 ** n if exact else 1 / (1 + n_perm)
    return Comparison(float(a.mean()), float(b.mean()), observed, lo, hi, p, n, n, True, exact, len(null),
                      min_p, level, enough)


def welch_bounds(a, b, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(difference, lo, hi) of Welch's t interval for mean(a) - mean(b) over the last axis (sizes >= 2, no
    NaN); vectorised over the leading axes. Zero width when both groups are constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = a.shape[-1], b.shape[-1]
    va, vb = a.var(-1, ddof=1) / na, b.var(-1, ddof=1) / nb
    se2 = va + vb
    d = a.mean(-1) - b.mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(se2 > 0, se2 ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1)), 1.0)
    half = t_quantile((1 + level) / 2, df) * np.sqrt(se2)
    return d, d - half, d + half


def unpaired_comparison(a, b, level: float = LEVEL, min_n: int = MIN_FEATURES, max_exact: int = MAX_EXACT,
                        n_perm: int = N_PERM, seed: int = 0) -> Comparison:
    """Permutation test of mean(a) - mean(b) for two groups of different features (NaN dropped)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return Comparison(float(a.mean()) if na else math.nan, float(b.mean()) if nb else math.nan, math.nan,
                          math.nan, math.nan, math.nan, na, nb, False, True, 0, 1.0, level, False)
    pooled = np.concatenate([a, b])
    total, N = pooled.sum(), na + nb
    observed = float(a.mean() - b.mean())
    splits = math.comb(N, na)
    exact = splits <= max_exact
    if exact:
        idx = np.array(list(combinations(range(N), na)), dtype=np.int64).reshape(splits, na)
        sums = pooled[idx].sum(1)
    else:
        rng = np.random.default_rng(seed)
        sums = np.concatenate([pooled[np.argsort(rng.random((min(4096, n_perm - s), N)), axis=1)[:, :na]].sum(1)
                               for s in range(0, n_perm, 4096)])
    null = sums / na - (total - sums) / nb
    p = _p_value(null, observed, exact)
    enough = min(na, nb) >= max(min_n, 2)
    lo = hi = math.nan
    if enough:
        _, lo, hi = (float(v) for v in welch_bounds(a, b, level))
    min_p = ((2 if na == nb else 1) / splits) if exact else 1 / (1 + n_perm)
    return Comparison(float(a.mean()), float(b.mean()), observed, lo, hi, p, na, nb, False, exact, len(null),
                      min_p, level, enough)
