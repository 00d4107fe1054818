"""The running top-k accumulator: for every channel of its sites, the k images with the highest statistic.

Memory is O(k x channels) on the device, whatever the number of images; ties go to the lower split row, in one
process as over many ranks.
"""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, all_gather


def merge_topk(values: torch.Tensor, indices: torch.Tensor, new_values: torch.Tensor, new_indices: torch.Tensor,
               k: int, ordered: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge two top lists (rows, columns = features) into the top k per column; ties go to the lower index.

    `ordered` promises that every new index is above every kept one and that new rows come in ascending
    index order (a streaming pass): one stable sort then gives the same result as the general two.
    """
    v = torch.cat([values, new_values])
    i = torch.cat([indices, new_indices])
    if not ordered:
        order = torch.sort(i, dim=0, stable=True).indices          # index ascending ...
        v, i = v.gather(0, order), i.gather(0, order)
    order = torch.sort(v, dim=0, descending=True, stable=True).indices[:k]   # ... then value descending
    return v.gather(0, order), i.gather(0, order)


def site_offsets(sites: Sequence[Site]) -> dict[str, int]:
    """The first column of each site when the channels of `sites` are laid side by side, in order."""
    out, o = {}, 0
    for s in sites:
        out[s.name] = o
        o += s.channels
    return out


class TopK:
    """The k split rows with the highest per-image statistic of every channel of `sites` (columns side by side,
    in site order); `lowest=True` keeps the k lowest instead (the minimising images)."""

    def __init__(self, sites: Sequence[Site], k: int, stat: str = "mean", lowest: bool = False):
        self.sites, self.k, self.stat, self.lowest = list(sites), k, stat, lowest
        self.total = sum(s.channels for s in self.sites)
        self.values: torch.Tensor | None = None     # (k, total), best first; NaN where fewer than k images
        self.indices: torch.Tensor | None = None    # (k, total), split rows; -1 where fewer than k images

    def update(self, acts: Activations) -> None:
        stats = torch.cat([acts.statistic(s, self.stat) for s in self.sites], dim=1)
        if self.lowest:
            stats = -stats
        if self.values is None:
            self.values = stats.new_full((0, self.total), float("-inf"))
            self.indices = torch.full((0, self.total), -1, dtype=torch.long, device=stats.device)
        rows = acts.rows.view(-1, 1).expand(-1, self.total)
        self.values, self.indices = merge_topk(self.values, self.indices, stats, rows, self.k, ordered=True)

    def finish(self, ctx: Context) -> None:
        if self.values is None:
            self.values = torch.full((0, self.total), float("-inf"))
            self.indices = torch.full((0, self.total), -1, dtype=torch.long)
        if self.values.shape[0] < self.k:  # fewer images than k: pad with rows that lose every comparison
            pad = self.k - self.values.shape[0]
            self.values = torch.cat([self.values, self.values.new_full((pad, self.total), float("-inf"))])
            self.indices = torch.cat([self.indices, self.indices.new_full((pad, self.total), -1)])
        if ctx.world > 1:  # merge the ranks' lists exactly: value first, then the lower index
            vs, js = all_gather(self.values, ctx), all_gather(self.indices, ctx)
            self.values, self.indices = vs[0], js[0]
            for v, j in zip(vs[1:], js[1:]):
                self.values, self.indices = merge_topk(self.values, self.indices, v, j, self.k)
        values = -self.values if self.lowest else self.values
        self.values = values.masked_fill(self.indices < 0, float("nan")).cpu()
        self.indices = self.indices.cpu()
