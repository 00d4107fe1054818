"""The sample accumulator: every channel's per-image statistic on a seeded random subset of the streamed rows
(the activation distribution the atlas draws its quantile bands and feature correlations from)."""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, gather_objects


def sample_rows(rows: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """`n` of `rows` drawn without replacement by a generator seeded with `seed` (all when n >= len), ascending."""
    if n >= len(rows):
        return sorted(rows)
    pick = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))[:n]
    return sorted(int(rows[i]) for i in pick)


class Sample:
    """The statistic of every channel of `sites` (columns side by side, in site order) on the images at `rows`:
    after finish, `rows` (n,) ascending (undecodable ones left out) and `values` (n, channels), fp32 on the CPU."""

    def __init__(self, sites: Sequence[Site], rows: Sequence[int], stat: str = "mean"):
        self.sites, self.stat = list(sites), stat
        self.wanted = torch.tensor(sorted(rows), dtype=torch.long)
        self._parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.rows = torch.zeros(0, dtype=torch.long)
        self.values = torch.zeros(0, sum(s.channels for s in self.sites))

    def update(self, acts: Activations) -> None:
        keep = torch.isin(acts.batch.rows, self.wanted).nonzero().squeeze(1)       # on the CPU: no device sync
        if len(keep):
            at = keep.to(acts.rows.device, non_blocking=True)
            stats = torch.cat([acts.statistic(s, self.stat)[at] for s in self.sites], dim=1)
            self._parts.append((acts.batch.rows[keep], stats))                 # read back once, at finish

    def finish(self, ctx: Context) -> None:
        mine = [(rows, stats.cpu()) for rows, stats in self._parts]
        parts = [p for rank in gather_objects(mine, ctx) for p in rank]
        if parts:
            rows, values = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            order = torch.argsort(rows, stable=True)
            self.rows, self.values = rows[order], values[order]
