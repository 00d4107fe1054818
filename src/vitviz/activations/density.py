"""The density accumulator: on how many images and on how many patch tokens each channel is active.

A channel is active on a patch token when its value there is above `threshold` (0: a GELU or ReLU unit, or an SAE
latent, fires), and active on an image when it is active on at least one of the image's patch tokens."""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, all_sum


class Density:
    """Per site: `images` and `patches` (channels,), the counts of active images and patch tokens, and `totals`,
    the images and patch tokens seen (each site may have its own number of tokens per image)."""

    def __init__(self, sites: Sequence[Site], threshold: float = 0.0):
        self.sites, self.threshold = list(sites), threshold
        self.images: dict[str, torch.Tensor] = {}
        self.patches: dict[str, torch.Tensor] = {}
        self.totals: dict[str, tuple[int, int]] = {}

    def update(self, acts: Activations) -> None:
        for s in self.sites:
            active = acts.raw_tokens(s) > self.threshold                        # (B, N, C)
            img, pat = active.any(dim=1).sum(dim=0), active.sum(dim=(0, 1))
            if s.name in self.images:
                self.images[s.name] += img
                self.patches[s.name] += pat
            else:
                self.images[s.name], self.patches[s.name] = img, pat
            n, t = self.totals.get(s.name, (0, 0))
            self.totals[s.name] = (n + active.shape[0], t + active.shape[0] * active.shape[1])

    def finish(self, ctx: Context) -> None:
        for s in self.sites:
            zero = torch.zeros(s.channels, dtype=torch.long)
            n, t = self.totals.get(s.name, (0, 0))
            both = torch.cat([self.images.get(s.name, zero).cpu().long(), self.patches.get(s.name, zero).cpu().long(),
                              torch.tensor([n, t])])
            both = all_sum(both, ctx)
            self.images[s.name], self.patches[s.name] = both[:s.channels], both[s.channels:2 * s.channels]
            self.totals[s.name] = (int(both[-2]), int(both[-1]))
