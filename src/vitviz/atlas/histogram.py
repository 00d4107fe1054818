"""A coarse histogram of every feature's per-image statistic over a split, in one streaming pass."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.loop import spread_rows
from vitviz.exemplars.mining import site_outputs, site_statistic
from vitviz.models.sites import Site
from vitviz.models.store import LoadedModel


@dataclass
class Histograms:
    """Per site: counts (channels, bins) over [lo, hi], and `under`, the images below lo (channels,)."""
    counts: dict[str, torch.Tensor]
    lo: dict[str, torch.Tensor]
    hi: dict[str, torch.Tensor]
    under: dict[str, torch.Tensor]
    images: int


def bin_counts(values: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For values (n, channels): per-channel counts (channels, bins) of equal bins over [lo, hi], values above hi
    in the last bin, and the per-channel count of values below lo."""
    width = (hi - lo).clamp_min(1e-12)
    pos = ((values - lo) / width * bins).floor()
    under = (pos < 0).sum(dim=0)
    b = pos.clamp(0, bins - 1).long()
    counts = torch.zeros(values.shape[1], bins, dtype=torch.long, device=values.device)
    counts.scatter_add_(1, b.t(), (pos >= 0).t().long())
    return counts, under


@torch.no_grad()
def split_histograms(loaded: LoadedModel, sites: list[Site], index: DatasetIndex, split: str, limit: int,
                     stat: str, upper: dict[str, torch.Tensor], bins: int = 24, batch_size: int = 64,
                     device: str | torch.device = "cpu") -> Histograms:
    """Histograms of each channel's statistic over the images mined (the same rows as mining).

    The upper edge is the channel's top-1 statistic (the split's maximum, from mining); the lower edge is the
    minimum over the first batch, and later images below it are counted in `under`.
    """
    device = torch.device(device)
    counts: dict[str, torch.Tensor] = {}
    lo: dict[str, torch.Tensor] = {}
    under: dict[str, torch.Tensor] = {}
    hi = {s.name: upper[s.name].to(device).float() for s in sites}
    seen = 0
    rows = spread_rows(len(index.split(split)), limit)
    for b, out in site_outputs(loaded, sites, index, split, rows, batch_size, device, f"histograms {loaded.key}"):
        if out is None:
            continue
        for s in sites:
            v = site_statistic(s, out[s.module], len(b), stat)
            if s.name not in lo:
                lo[s.name] = torch.minimum(v.amin(dim=0), hi[s.name])
                counts[s.name] = torch.zeros(s.channels, bins, dtype=torch.long, device=device)
                under[s.name] = torch.zeros(s.channels, dtype=torch.long, device=device)
            c, u = bin_counts(v, lo[s.name], hi[s.name], bins)
            counts[s.name] += c
            under[s.name] += u
        seen += len(b)
    cpu = lambda d: {k: v.cpu() for k, v in d.items()}  # noqa: E731
    return Histograms(cpu(counts), cpu(lo), cpu(hi), cpu(under), seen)
