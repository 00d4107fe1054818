"""Selectivity of a visualisation: its target channel among all channels of the site, on the optimised image.

Comparable across sites of different channel counts C: the z-score (population standard deviation) divided by its
largest possible value sqrt(C - 1) (`max_z`), which lies in [-1, 1] and equals the Pearson correlation of the
channel statistics v with the one-hot vector of the target t. Proof of the bound: with d_i = v_i - mean(v),
sum_i d_i = 0 and C sigma^2 = sum_i d_i^2. Then d_t = -sum_{i != t} d_i, so by Cauchy-Schwarz
d_t^2 <= (C - 1) sum_{i != t} d_i^2 = (C - 1)(C sigma^2 - d_t^2), i.e. z^2 = d_t^2 / sigma^2 <= C - 1. Equality
holds iff every other channel takes one common value: +1 for a one-hot v (only the target active). Raw z tops
out at 22.6 for C = 512 and 11.3 for C = 128, so it would favour wide sites. (The rank percentile, the other
scale-free choice, saturates at 1 whenever the target is the top channel, the usual outcome of maximising it.)
"""
from __future__ import annotations

import torch


def selectivity(channel_stats: torch.Tensor, target: int) -> tuple[float, int]:
    """(z-score, rank) of channel `target` in one image's per-channel statistics (C,); rank 1 is the highest."""
    v = channel_stats.float()
    std = v.std(unbiased=False)
    z = float((v[target] - v.mean()) / std) if std > 0 else 0.0
    return z, int((v > v[target]).sum()) + 1


def max_z(channels: int) -> float:
    """The largest z-score one channel of C can reach (all others equal): sqrt(C - 1)."""
    return (channels - 1) ** 0.5
