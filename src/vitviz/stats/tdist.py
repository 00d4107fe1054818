"""Student t distribution function and quantiles in numpy (no scipy in the project's dependencies)."""
from __future__ import annotations

from functools import lru_cache
from math import lgamma

import numpy as np

_ITER, _TINY, _EPS = 300, 1e-300, 1e-15


def _beta_cf(a: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Continued fraction of the regularised incomplete beta (modified Lentz), elementwise, fixed iterations."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    d = 1.0 - qab * x / qap
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    for m in range(1, _ITER + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + aa / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            step = d * c
            h = h * step
        if np.all(np.abs(step - 1.0) < _EPS):
            break
    return h


def betainc(a, b, x) -> np.ndarray:
    """Regularised incomplete beta function I_x(a, b), elementwise (a, b > 0, 0 <= x <= 1)."""
    a, b, x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, x)))
    lg = np.vectorize(lgamma, otypes=[float])
    swap = x > (a + 1.0) / (a + b + 2.0)          # the fraction converges fast below this point
    aa, bb, xx = np.where(swap, b, a), np.where(swap, a, b), np.where(swap, 1.0 - x, x)
    inner = (xx > 0) & (xx < 1)
    xs = np.where(inner, xx, 0.5)
    front = np.exp(lg(aa + bb) - lg(aa) - lg(bb) + aa * np.log(xs) + bb * np.log1p(-xs)) / aa
    val = np.where(inner, front * _beta_cf(aa, bb, xs), np.where(xx <= 0, 0.0, 1.0))
    return np.where(swap, 1.0 - val, val)


def t_cdf(t, df) -> np.ndarray:
    """P(T <= t) for Student's t with `df` degrees of freedom (any real df > 0), elementwise."""
    t, df = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return np.where(t >= 0, 1.0 - tail, tail)


def t_quantile(p, df) -> np.ndarray:
    """The p-quantile of Student's t with `df` degrees of freedom, elementwise (bisection on t_cdf, 1e-10 rel.)."""
    p, df = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(df, dtype=float))
    q = np.maximum(p, 1.0 - p)                    # symmetric: solve in the upper half
    lo, hi = np.zeros_like(q), np.ones_like(q)
    for _ in range(80):
        low = t_cdf(hi, df) < q
        if not low.any():
            break
        hi = np.where(low, hi * 2.0, hi)
    while np.any(hi - lo > 1e-10 * np.maximum(hi, 1.0)):
        mid = 0.5 * (lo + hi)
        below = t_cdf(mid, df) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    t = 0.5 * (lo + hi)
    return np.where(p >= 0.5, t, -t)


@lru_cache(maxsize=4096)
def t_quantile_scalar(p: float, df: float) -> float:
    """t_quantile for one (p, df), cached (intervals ask for the same few quantiles again and again)."""
    return float(t_quantile(p, df))
