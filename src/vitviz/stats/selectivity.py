"""Selectivity of a visualisation comparable across sites with different channel counts C.

On the optimised image, with the site's per-channel statistics v (C,) and the target channel t:

- `normalized_z`: the target's z-score (population standard deviation, as vitviz.scoring.selectivity) divided
  by sqrt(C - 1). It lies in [-1, 1], and it equals the Pearson correlation of v with the one-hot vector of t.
  Proof of the bound: with d_i = v_i - mean(v), sum_i d_i = 0 and C sigma^2 = sum_i d_i^2. Then
  d_t = -sum_{i != t} d_i, so by Cauchy-Schwarz d_t^2 <= (C - 1) sum_{i != t} d_i^2 = (C - 1)(C sigma^2 - d_t^2),
  i.e. C d_t^2 <= (C - 1) C sigma^2 and z^2 = d_t^2 / sigma^2 <= C - 1. Equality holds iff every other
  channel takes one common value: +1 for a one-hot v (only the target active), -1 for its negative.
  1 means "only the target channel stands out", whatever C; z itself tops out at 22.6 for C = 512 and 11.3
  for C = 128, so raw z favours wide sites.
- `rank_percentile`: the share of the other C - 1 channels below the target (ties count half), in [0, 1].
  Free of scale and of C too, but it saturates at 1 whenever the target is the top channel, which is the
  usual outcome of maximising it, so it cannot rank sites whose targets all come first.

The report should use normalized_z (mean with a t interval over features) and keep rank_percentile as a
check (the share of targets that are the top channel), not as the comparison.
"""
from __future__ import annotations

import numpy as np


def normalized_z(channel_stats, target) -> np.ndarray:
    """z-score of channel `target` over the last axis of `channel_stats` (..., C) divided by sqrt(C - 1), in
    [-1, 1]; 0 where all channels are equal. `target` is an int or an integer array over the leading axes."""
    v = np.asarray(channel_stats, dtype=float)
    C = v.shape[-1]
    t = np.take_along_axis(v, np.asarray(target)[..., None] * np.ones(v.shape[:-1] + (1,), dtype=int), -1)[..., 0]
    sd = v.std(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, (t - v.mean(-1)) / sd, 0.0)
    return z / np.sqrt(C - 1)


def rank_percentile(channel_stats, target) -> np.ndarray:
    """Share of the other channels whose statistic is below the target's (ties count half), in [0, 1]."""
    v = np.asarray(channel_stats, dtype=float)
    C = v.shape[-1]
    t = np.take_along_axis(v, np.asarray(target)[..., None] * np.ones(v.shape[:-1] + (1,), dtype=int), -1)
    below = (v < t).sum(-1) + 0.5 * ((v == t).sum(-1) - 1)
    return below / (C - 1)
