"""Selectivity of a visualisation: its target channel among all channels of the site, on the optimised image."""
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
