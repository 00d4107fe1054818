"""The maps accumulator: a feature's activation on the patch grid of chosen images (its exemplars)."""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, gather_objects


def patch_grid(tokens: int) -> tuple[int, int]:
    """The square patch grid of a token count (inputs are square centre crops)."""
    side = int(round(tokens ** 0.5))
    if side * side != tokens:
        raise ValueError(f"{tokens} patch tokens do not form a square grid")
    return side, side


class PatchMaps:
    """Per site, maps (channels, ranks, gh, gw): the activation of channel c on the patch grid of the image at
    split row `wanted[site][rank, c]` (NaN where that row is -1 or never streamed). Only spatial sites."""

    def __init__(self, sites: Sequence[Site], wanted: dict[str, torch.Tensor]):
        self.sites = [s for s in sites if s.spatial]
        self.wanted = wanted
        self.maps: dict[str, torch.Tensor] = {}

    def rows(self) -> list[int]:
        """Every split row some map needs, ascending (the rows to stream)."""
        return sorted({int(r) for s in self.sites for r in self.wanted[s.name].flatten().tolist() if r >= 0})

    def update(self, acts: Activations) -> None:
        b = acts.batch
        where = {row: j for j, row in enumerate(b.rows.tolist())}                # split row -> place in batch
        for s in self.sites:
            tok = acts.tokens(s)                                                  # (b, N, C)
            gh, gw = patch_grid(tok.shape[1])
            cols = self.wanted[s.name]                                            # (ranks, C)
            if s.name not in self.maps:
                self.maps[s.name] = torch.full((s.channels, cols.shape[0], gh, gw), float("nan"))
            hit = torch.isin(cols, b.rows).nonzero(as_tuple=False)              # (n, 2): rank, channel
            if len(hit):
                image = torch.tensor([where[r] for r in cols[hit[:, 0], hit[:, 1]].tolist()])
                vals = tok[image.to(tok.device), :, hit[:, 1].to(tok.device)].cpu()   # (n, N): one copy per site
                self.maps[s.name][hit[:, 1], hit[:, 0]] = vals.view(-1, gh, gw)       # row-major patch grid

    def finish(self, ctx: Context) -> None:
        if ctx.world > 1:  # each rank filled the maps of its own images
            merged: dict[str, torch.Tensor] = {}
            for part in gather_objects(self.maps, ctx):
                for name, m in part.items():
                    merged[name] = m if name not in merged else torch.where(torch.isnan(merged[name]), m, merged[name])
            self.maps = merged
