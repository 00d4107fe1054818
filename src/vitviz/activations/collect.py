"""The collect accumulator: the per-image statistic of chosen (site, feature) pairs on every image of a pass."""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, gather_objects


class Collect:
    """Each target feature's statistic on each image, as `rows` (n,) and `values` (n, targets), rows ascending."""

    def __init__(self, sites: dict[str, Site], targets: Sequence[tuple[str, int]], stat: str = "mean"):
        self.targets, self.stat = list(targets), stat
        self.sites = [sites[name] for name in dict.fromkeys(s for s, _ in self.targets)]
        self._site = {s.name: s for s in self.sites}
        self._rows: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []
        self.rows = torch.zeros(0, dtype=torch.long)
        self.values = torch.zeros(0, len(self.targets))

    def update(self, acts: Activations) -> None:
        per_site = {name: acts.statistic(s, self.stat) for name, s in self._site.items()}
        self._values.append(torch.stack([per_site[s][:, f] for s, f in self.targets], dim=1))   # read back at finish
        self._rows.append(acts.batch.rows)

    def finish(self, ctx: Context) -> None:
        parts = gather_objects((self._rows, [v.cpu() for v in self._values]), ctx)
        rows = [r for p in parts for r in p[0]]
        values = [v for p in parts for v in p[1]]
        if rows:
            r, v = torch.cat(rows), torch.cat(values)
            order = torch.argsort(r, stable=True)
            self.rows, self.values = r[order], v[order]
