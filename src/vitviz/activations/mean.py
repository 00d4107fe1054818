"""The mean accumulator: each channel's per-image statistic averaged over the images of a pass."""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, all_sum


class Mean:
    """Per site, each channel's statistic (mean over patch tokens by default) averaged over the images seen."""

    def __init__(self, sites: Sequence[Site], stat: str = "mean"):
        self.sites, self.stat = list(sites), stat
        self._sums: dict[str, torch.Tensor] = {}
        self.images = 0
        self.means: dict[str, torch.Tensor] = {}   # after finish: per site (channels,), on the CPU

    def update(self, acts: Activations) -> None:
        for s in self.sites:
            batch_sum = acts.statistic(s, self.stat).sum(dim=0).double()
            self._sums[s.name] = self._sums[s.name] + batch_sum if s.name in self._sums else batch_sum
        self.images += len(acts)

    def finish(self, ctx: Context) -> None:
        sums = [self._sums.get(s.name, torch.zeros(s.channels, dtype=torch.float64)).cpu() for s in self.sites]
        total = all_sum(torch.cat(sums + [torch.tensor([float(self.images)], dtype=torch.float64)]), ctx)
        self.images = int(total[-1])
        self.means, o = {}, 0
        for s in self.sites:
            self.means[s.name] = total[o:o + s.channels] / max(self.images, 1)
            o += s.channels
