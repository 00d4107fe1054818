"""The histogram accumulator: each channel's per-image statistic binned in one pass, with no second pass for edges.

Bins of channel c are [j w_c, (j + 1) w_c) for consecutive integers j, with w_c a power of two. When a value falls
outside the `bins` bins kept, w_c doubles (two neighbouring bins merge exactly, since the edges stay on the grid
of w_c) until every value seen fits. So the counts are exact, and the final edges are a function of the values
alone: w_c is the smallest power of two (at least 2**MIN_EXPONENT) at which the channel's range fits in `bins`
bins, whatever the order of the images, the batch size or the number of ranks. The occupied bins span between
half and all of `bins`.
"""
from __future__ import annotations

from typing import Sequence

import torch

from vitviz.activations.sites import Site
from vitviz.activations.stream import Activations
from vitviz.core.distributed import Context, gather_objects

MIN_EXPONENT = -20    # the narrowest bin: 2**-20 (a constant channel needs no wider one)


def fitting_exponent(lo: torch.Tensor, hi: torch.Tensor, start: torch.Tensor, bins: int) -> torch.Tensor:
    """Per channel, the smallest exponent e >= start at which [lo, hi] spans fewer than `bins` bins of width 2**e.

    With r = hi - lo, a width w spans at most r / w + 1 bins and more than r / w - 1, so the answer is one of the
    three exponents from floor(log2(r / bins)) up: all three are tried at once (no loop, no host sync)."""
    r = (hi - lo).clamp_min(0)
    e0 = torch.floor(torch.log2(r / bins)).nan_to_num(nan=MIN_EXPONENT, neginf=MIN_EXPONENT).long()
    cand = torch.maximum(e0, start)[..., None] + torch.arange(3, device=lo.device)        # (C, 3)
    w = torch.pow(2.0, cand.double())
    fits = (torch.floor(hi[..., None] / w) - torch.floor(lo[..., None] / w)) < bins
    return cand.gather(-1, fits.long().argmax(dim=-1, keepdim=True)).squeeze(-1)


def rebin(counts: torch.Tensor, e: torch.Tensor, k0: torch.Tensor, new_e: torch.Tensor, new_k0: torch.Tensor
          ) -> torch.Tensor:
    """Counts (C, bins) on the grid (e, k0) moved onto a coarser grid (new_e >= e, new_k0) that holds every
    non-empty bin, exactly (empty bins may fall outside it and are dropped)."""
    bins = counts.shape[1]
    j = torch.arange(bins, device=counts.device)
    absolute = (k0[:, None] + j[None, :]) >> (new_e - e)[:, None]        # floor division by 2**(new_e - e)
    out = torch.zeros_like(counts)
    out.scatter_add_(1, (absolute - new_k0[:, None]).clamp(0, bins - 1), counts)
    return out


def _range(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per column of v (n, C), the min and max of its finite values (inf and -inf when there are none)."""
    if not len(v):
        return v.new_full(v.shape[1:], float("inf")), v.new_full(v.shape[1:], float("-inf"))
    finite = torch.isfinite(v)
    return (torch.where(finite, v, float("inf")).amin(dim=0), torch.where(finite, v, float("-inf")).amax(dim=0))


class Histogram:
    """Per site, the exact histogram (channels, bins) of each channel's per-image statistic on power-of-two bins.

    The state of a site: lo and hi (the finite range seen), e (bin width 2**e), k0 (the first bin's index on
    that grid) and counts (C, bins). Non-finite values are not counted."""

    def __init__(self, sites: Sequence[Site], bins: int = 24, stat: str = "mean"):
        self.sites, self.bins, self.stat = list(sites), bins, stat
        self.state: dict[str, dict[str, torch.Tensor]] = {}

    def update(self, acts: Activations) -> None:
        for s in self.sites:
            self.state[s.name] = self.add(self.state.get(s.name), acts.statistic(s, self.stat).double())

    def _grid(self, lo: torch.Tensor, hi: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The coarsest grid needed for [lo, hi] (exponent >= start) and its first bin index."""
        lo, hi = torch.where(torch.isfinite(lo), lo, 0.0), torch.where(torch.isfinite(hi), hi, 0.0)
        e = fitting_exponent(lo, hi, start, self.bins)
        return e, torch.floor(lo / torch.pow(2.0, e.double())).long()

    def add(self, st: dict | None, v: torch.Tensor) -> dict:
        """The state `st` (None: empty) with the values v (n, C) counted."""
        lo, hi = _range(v)
        if st is None:
            e, k0 = self._grid(lo, hi, torch.full_like(lo, MIN_EXPONENT, dtype=torch.long))
            st = {"lo": lo, "hi": hi, "e": e, "k0": k0,
                  "counts": torch.zeros(v.shape[1], self.bins, dtype=torch.long, device=v.device)}
        else:
            lo, hi = torch.minimum(st["lo"], lo), torch.maximum(st["hi"], hi)
            e, k0 = self._grid(lo, hi, st["e"])
            st = {"lo": lo, "hi": hi, "e": e, "k0": k0, "counts": rebin(st["counts"], st["e"], st["k0"], e, k0)}
        j = torch.floor(v / torch.pow(2.0, e.double())).long() - k0
        finite = torch.isfinite(v)
        st["counts"].scatter_add_(1, torch.where(finite, j, 0).clamp(0, self.bins - 1).t(), finite.t().long())
        return st

    def merge(self, a: dict, b: dict) -> dict:
        """The state of the union of the values of two states."""
        lo, hi = torch.minimum(a["lo"], b["lo"]), torch.maximum(a["hi"], b["hi"])
        e, k0 = self._grid(lo, hi, torch.maximum(a["e"], b["e"]))
        counts = rebin(a["counts"], a["e"], a["k0"], e, k0) + rebin(b["counts"], b["e"], b["k0"], e, k0)
        return {"lo": lo, "hi": hi, "e": e, "k0": k0, "counts": counts}

    def finish(self, ctx: Context) -> None:
        for s in self.sites:   # a site that saw no image: an empty histogram
            if s.name not in self.state:
                self.state[s.name] = self.add(None, torch.zeros(0, s.channels, dtype=torch.float64))
        self.state = {k: {n: t.cpu() for n, t in st.items()} for k, st in self.state.items()}
        if ctx.world > 1:
            merged: dict[str, dict] = {}
            for part in gather_objects(self.state, ctx):
                for name, st in part.items():
                    merged[name] = self.merge(merged[name], st) if name in merged else st
            self.state = merged

    def result(self, site: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(counts (C, bins), first edge (C,), bin width (C,)) of a site: bin j of channel c is
        [edge[c] + j * width[c], edge[c] + (j + 1) * width[c])."""
        st = self.state[site]
        w = torch.pow(2.0, st["e"].double())
        return st["counts"], st["k0"].double() * w, w
