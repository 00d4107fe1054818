"""Appendix F as a test of the paper's claim: when a growing fraction x of a feature's active patches is blacked
out, does the remaining activation share y(x) fall in proportion, y = 1 - x (the dotted line of the figure)?

Per feature f the curve y_f is its mean over exemplars and random repeats on a grid of x in [0, 1], y_f(0) = 1.
- Flat curves (max over x of |y_f(x) - 1| <= `tol`) are insensitive to the active patches (blacking them out
  changes nothing: the opposite of locality, not an instance of it) and are counted apart, not scored.
- Distance from proportional loss: D_f = mean over the grid of |y_f(x) - (1 - x)|. 0 for an exactly local
  feature; a global feature that keeps its activation until every active patch is gone (a step) has
  mean(x over the grid without 1) = 0.41 on the 11-point grid 0, 0.1, ..., 1 (0.5 in the limit of a fine grid).
  The block's headline is the mean of D_f over the sensitive features with its skewness-corrected t interval
  (intervals.mean_interval). D_f is right-skewed: for curves y = 1 - x^g with g log-normal (benchmarks/
  stats_coverage.py) that interval covered 0.93-0.97 from n = 5 features on, but 0.92-0.94 at n = 3 and 4,
  hence MIN_CURVES = 5 sensitive features per block before any interval or band is given.
  Unlike a pooled R^2, a feature's D_f does not depend on the other features: two exactly linear curves of
  different slopes are each judged against y = 1 - x, not against each other.
- Shape apart from slope: the least-squares slope b_f of 1 - y_f = b_f x (a line through (0, 1)) and the mean
  absolute residual around that line (0 for any straight line, whatever its slope).
- The figure's mean curve over the sensitive features, a pointwise percentile bootstrap band over features,
  and the mean curve's own distance from 1 - x with a percentile bootstrap interval (opposite deviations of
  different features cancel in it, so it is shown beside the per-feature distance, not instead of it; its
  interval is not coverage-checked: an absolute value of a noisy mean is biased upwards near 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vitviz.stats.intervals import LEVEL, Interval, mean_interval

FLAT_TOLERANCE = 0.1
N_BOOT = 2000
MIN_CURVES = 5


def feature_curves(curves: pd.DataFrame, y: str, keys: tuple[str, ...] = ("feature",)
                   ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(x (X,), Y (F, X), the F feature keys) from long rows (keys..., fraction, y): each feature's mean over its
    exemplars and repeats at each fraction (NaN where a feature lacks a fraction)."""
    per = curves.groupby([*keys, "fraction"])[y].mean().unstack("fraction").sort_index(axis=1)
    return per.columns.to_numpy(float), per.to_numpy(float), per.index.to_frame(index=False)


def flat(Y: np.ndarray, tol: float = FLAT_TOLERANCE) -> np.ndarray:
    """(F,) whether each curve stays within `tol` of 1 at every fraction (NaN points ignored)."""
    dev = np.abs(np.asarray(Y, dtype=float) - 1.0)
    return np.nanmax(np.where(np.isnan(dev), 0.0, dev), axis=1) <= tol


def line_distance(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(F,) mean over the grid of |y_f(x) - (1 - x)| (NaN points ignored)."""
    return np.nanmean(np.abs(np.asarray(Y, dtype=float) - (1.0 - np.asarray(x, dtype=float))), axis=-1)


def slope_and_residual(x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F,) least-squares slope b of 1 - y = b x (through (0, 1); 1 is proportional loss) and the mean absolute
    residual of y around 1 - b x (0 for a straight line of any slope)."""
    x = np.broadcast_to(np.asarray(x, dtype=float), np.shape(Y))
    Y = np.asarray(Y, dtype=float)
    ok = ~np.isnan(Y)
    xs, loss = np.where(ok, x, 0.0), np.where(ok, 1.0 - Y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (xs * loss).sum(1) / (xs * xs).sum(1)
    return b, np.nanmean(np.abs(Y - (1.0 - b[:, None] * x)), axis=1)


@dataclass(frozen=True)
class BlockCurves:
    """Appendix F statistics of one block (see the module docstring); bands and intervals NaN below min_n."""
    x: np.ndarray
    features: int
    flat: int
    mean_curve: np.ndarray
    band_lo: np.ndarray
    band_hi: np.ndarray
    distance: Interval
    mean_curve_distance: float
    mean_curve_distance_lo: float
    mean_curve_distance_hi: float
    slope: Interval
    residual: Interval

    @property
    def sensitive(self) -> int:
        """Curves that entered the distance, the band and the mean curve."""
        return self.features - self.flat


def block_curves(x, Y, tol: float = FLAT_TOLERANCE, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0,
                 min_n: int = MIN_CURVES) -> BlockCurves:
    """Statistics of one block's per-feature curves Y (F, X) on the grid x (X,); curves without a finite point
    are dropped (they count neither as flat nor as sensitive)."""
    x, Y = np.asarray(x, dtype=float), np.atleast_2d(np.asarray(Y, dtype=float))
    Y = Y[~np.isnan(Y).all(1)]
    is_flat = flat(Y, tol) if len(Y) else np.zeros(0, bool)
    S = Y[~is_flat]
    n = len(S)
    nan_x = np.full(len(x), math.nan)
    mean = np.nanmean(S, 0) if n else nan_x
    d = line_distance(x, S) if n else np.zeros(0)
    b, r = slope_and_residual(x, S) if n else (np.zeros(0), np.zeros(0))
    band_lo = band_hi = nan_x
    mcd = float(np.nanmean(np.abs(mean - (1 - x)))) if n else math.nan
    mcd_lo = mcd_hi = math.nan
    if n >= max(min_n, 2) and n_boot:
        rng = np.random.default_rng(seed)
        boot = np.nanmean(S[rng.integers(0, n, size=(n_boot, n))], 1)          # (B, X) resampled mean curves
        q = [(1 - level) / 2, (1 + level) / 2]
        band_lo, band_hi = np.nanquantile(boot, q, axis=0)
        mcd_lo, mcd_hi = np.nanquantile(np.nanmean(np.abs(boot - (1 - x)), 1), q)
    return BlockCurves(x, len(Y), int(is_flat.sum()), mean, band_lo, band_hi,
                       mean_interval(d, level, min_n, (0.0, math.inf)), mcd, float(mcd_lo), float(mcd_hi),
                       mean_interval(b, level, min_n), mean_interval(r, level, min_n, (0.0, math.inf)))
