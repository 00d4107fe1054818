"""Confidence intervals for a mean over features of per-feature scores, each score itself an average over tasks
(the machine 2-AFC accuracy: T binary outcomes) or one continuous value (activation ratio, selectivity).

The features are the sampling unit. With every feature scored on its own independent tasks, the per-feature
scores are independent draws whose mean is the population mean, so an interval over the per-feature scores
already holds both the between-feature and the within-feature (task) variance; resampling the tasks again on
top counts the task variance twice (Davison & Hinkley 1997, section 3.8).

Coverage of the 95% intervals, measured by benchmarks/stats_coverage.py (1,000 runs per cell; T = 20 tasks;
true accuracies ~ Beta(mean c, (1 - mean) c), c = 10), n features:

    method                    mean  n=2    n=3    n=5    n=10   n=20   n=50
    accuracy_interval (Wilson) 0.6  1.000  0.998  0.967  0.949  0.957  0.955
                               0.8  1.000  0.998  0.977  0.956  0.933  0.952
                               0.9  1.000  0.997  0.975  0.949  0.948  0.949
    plain t                    0.8  0.913  0.917  0.936  0.934  0.919  0.946
                               0.9  0.845  0.880  0.878  0.900  0.924  0.944
    two_stage_bootstrap        0.6  0.848  0.899  0.929  0.949  0.967  0.974
                               0.8  0.861  0.880  0.930  0.955  0.949  0.968
    former feature bootstrap   0.7  0.608  0.746  0.849  0.896  0.931  0.947

- `accuracy_interval` (scores in [0, 1] from T tasks each; the default for the 2-AFC accuracy): a Wilson score
  interval on the effective number of tasks nT / design effect, with the t quantile on n - 1 degrees of freedom
  in place of z (after Korn & Graubard 1998). It holds near the ceiling, where the plain t interval does not,
  and is conservative at n <= 5.
- `mean_interval` (continuous scores): Student's t with Hall's (1992) skewness correction (`hall_bounds`):
  0.93-0.96 for normal and log-normal(0, 0.2) values from n = 3 on; strongly skewed values (log-normal
  sigma 0.6) get 0.90-0.94 at n = 4-10 (the plain t: 0.89-0.92).
- `two_stage_bootstrap` (features, then tasks within each feature; percentile): measured, not the default: it
  under-covers at n <= 5 and over-covers as n grows (0.97-0.98 at n = 50).

MIN_FEATURES = 3: below it no interval is returned (lo, hi NaN; the report prints "too few features (n = 2)").
At n = 2 the plain t interval covers 0.85-0.94 and the Wilson interval spans about 0.9 of [0, 1], which
says nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from vitviz.stats.tdist import t_quantile_scalar

LEVEL = 0.95
MIN_FEATURES = 3


@dataclass(frozen=True)
class Interval:
    """A mean over `n` features and its interval at `level` (lo, hi NaN when n < the minimum)."""
    mean: float
    lo: float
    hi: float
    n: int
    level: float

    @property
    def enough(self) -> bool:
        """Whether the interval exists (enough features)."""
        return not (math.isnan(self.lo) or math.isnan(self.hi))


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[~np.isnan(v)]


def t_bounds(values, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) of the Student t interval over the last axis (n >= 2, no NaN); vectorised over the rest."""
    v = np.asarray(values, dtype=float)
    n = v.shape[-1]
    m = v.mean(-1)
    half = t_quantile_scalar((1 + level) / 2, n - 1) * v.std(-1, ddof=1) / math.sqrt(n)
    return m, m - half, m + half


def hall_bounds(values, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) of the Student t interval with Hall's (1992) skewness correction, over the last axis (n >= 2,
    no NaN); vectorised. With T = sqrt(n)(mean - mu)/s, a = skewness / sqrt(n), the monotone transform
    g(T) = ((1 + a T / 3)^3 - 1) / a + a / 6 is closer to Student's t than T itself, so
    mu in [mean - s/sqrt(n) g^-1(q), mean - s/sqrt(n) g^-1(-q)], g^-1(y) = 3/a ((1 + a (y - a/6))^(1/3) - 1);
    the plain t interval when the values are symmetric (a = 0). It stretches the interval towards the long
    tail: right-skewed values (distances, ratios) get a longer upper arm."""
    v = np.asarray(values, dtype=float)
    n = v.shape[-1]
    m, s = v.mean(-1), v.std(-1, ddof=1)
    skew = ((v - m[..., None]) ** 3).mean(-1) / np.where(s > 0, s, 1.0) ** 3
    a = skew / math.sqrt(n)
    a = np.where(np.abs(a) < 1e-8, 1e-8, a)                     # the limit a -> 0 is the plain t interval
    q = t_quantile_scalar((1 + level) / 2, n - 1)

    def g_inv(y: float) -> np.ndarray:
        return 3.0 / a * (np.cbrt(1.0 + a * (y - a / 6.0)) - 1.0)

    se = s / math.sqrt(n)
    return m, m - se * g_inv(q), m - se * g_inv(-q)


def wilson_bounds(values, tasks, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) over the last axis of per-feature scores in [0, 1], each the mean of `tasks` task outcomes
    (a number, or an array broadcasting against `values`): Wilson score interval on the effective number of
    tasks n_eff = m(1 - m) / (s^2 / n), capped at the total number of tasks (design effect >= 1), with the t
    quantile on n - 1 degrees of freedom in place of z. Vectorised over the leading axes; n >= 2, no NaN."""
    v = np.asarray(values, dtype=float)
    n = v.shape[-1]
    total = np.broadcast_to(np.asarray(tasks, dtype=float), v.shape).sum(-1)
    m = v.mean(-1)
    var_mean = v.var(-1, ddof=1) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(var_mean > 0, m * (1 - m) / var_mean, np.inf)
    n_eff = np.minimum(n_eff, total)
    lo, hi = _wilson(m, n_eff, t_quantile_scalar((1 + level) / 2, n - 1))
    return m, lo, hi


def _wilson(p, n, q: float):
    """The Wilson score interval (lo, hi) of a proportion p over n trials at the quantile q, within [0, 1]."""
    q2 = q * q
    centre = (p + q2 / (2 * n)) / (1 + q2 / n)
    half = q / (1 + q2 / n) * np.sqrt(p * (1 - p) / n + q2 / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def mean_interval(values, level: float = LEVEL, min_n: int = MIN_FEATURES,
                  bounds: tuple[float, float] = (-math.inf, math.inf)) -> Interval:
    """Mean of continuous per-feature scores (NaN dropped) with its skewness-corrected t interval (`hall_bounds`),
    clipped to the scores' possible range `bounds` (clipping never loses coverage); none below min_n."""
    v = _finite(values)
    if len(v) < max(min_n, 2):
        return Interval(float(v.mean()) if len(v) else math.nan, math.nan, math.nan, len(v), level)
    m, lo, hi = hall_bounds(v, level)
    return Interval(float(m), float(max(lo, bounds[0])), float(min(hi, bounds[1])), len(v), level)


def accuracy_interval(values, tasks, level: float = LEVEL, min_n: int = MIN_FEATURES) -> Interval:
    """Mean of per-feature accuracies in [0, 1] (NaN dropped), each over `tasks` tasks (int, or one per
    feature), with the Wilson design-effect interval (`wilson_bounds`); none below min_n."""
    v = np.asarray(values, dtype=float).ravel()
    t = np.broadcast_to(np.asarray(tasks, dtype=float), v.shape)
    ok = ~np.isnan(v)
    v, t = v[ok], t[ok]
    if len(v) < max(min_n, 2):
        return Interval(float(v.mean()) if len(v) else math.nan, math.nan, math.nan, len(v), level)
    m, lo, hi = wilson_bounds(v, t, level)
    return Interval(float(m), float(lo), float(hi), len(v), level)


def two_stage_bootstrap(outcomes, level: float = LEVEL, n_boot: int = 2000, seed: int = 0,
                        min_n: int = MIN_FEATURES) -> Interval:
    """Mean over features of per-feature task means, from task outcomes (features, T) with NaN for missing
    tasks, and the percentile interval of a two-stage bootstrap: resample features with replacement, then the
    tasks of each drawn feature with replacement. Not the default: see the module's coverage notes."""
    y = np.asarray(outcomes, dtype=float)
    y = y[~np.isnan(y).all(1)]
    n = len(y)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    means = np.nanmean(y, 1)
    if n < max(min_n, 2):
        return Interval(float(means.mean()), math.nan, math.nan, n, level)
    rng = np.random.default_rng(seed)
    counts = (~np.isnan(y)).sum(1)
    order = np.argsort(np.isnan(y), axis=1, kind="stable")          # each row's observed tasks first
    packed = np.take_along_axis(y, order, 1)
    boot = np.empty(n_boot)
    for start in range(0, n_boot, 256):
        b = min(256, n_boot - start)
        f = rng.integers(0, n, size=(b, n))                           # features
        k = counts[f]
        t = (rng.random((b, n, y.shape[1])) * k[..., None]).astype(int)  # tasks within each drawn feature
        vals = packed[f[..., None], t]
        mask = np.arange(y.shape[1]) < k[..., None]
        boot[start:start + b] = (np.where(mask, vals, 0).sum(-1) / k).mean(-1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(means.mean()), float(lo), float(hi), n, level)


def proportion_interval(successes: int, n: int, level: float = LEVEL) -> Interval:
    """One proportion (successes of n independent trials, e.g. images classified right) with its Wilson score
    interval; none when n is 0."""
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    p = successes / n
    lo, hi = _wilson(p, n, NormalDist().inv_cdf((1 + level) / 2))
    return Interval(p, float(lo), float(hi), n, level)
