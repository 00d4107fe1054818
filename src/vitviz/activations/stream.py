"""One streaming pass of a split through a model's hooked sites, feeding accumulators (netdissect's `tally` idea).

Every dataset statistic of a feature (the top-k exemplars, the mean for feature selection, the histograms of the
atlas, the per-image statistics of scoring, the activation maps of the exemplars, SAE training) is an
accumulator over this one loop: it names the sites it needs, gets each batch's activations (read once per site
and shared by all accumulators), and merges its state over torch.distributed ranks at the end. The rows are
sharded over the ranks; only the needed sites are hooked, and each forward stops after the deepest of them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

import torch

from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.loader import Batch, batches
from vitviz.activations.sites import Site
from vitviz.core.distributed import Context, all_sum, context, shard
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


class Activations:
    """The hooked activations of one batch: patch tokens and per-image statistics per site, computed on first use
    and shared by every accumulator of the pass."""

    def __init__(self, batch: Batch, outputs: dict[str, list[torch.Tensor]]):
        self.batch = batch
        self._outputs = outputs
        self._tokens: dict[tuple[str, bool], torch.Tensor] = {}
        self._stats: dict[tuple[str, str], torch.Tensor] = {}
        self._rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.batch)

    @property
    def rows(self) -> torch.Tensor:
        """The split rows of the batch's images (B,), on the activations' device."""
        if self._rows is None:
            self._rows = self.batch.rows.to(self.batch.x.device, non_blocking=True)
        return self._rows

    def raw_tokens(self, site: Site, prefix: bool = False) -> torch.Tensor:
        """(B, patch tokens, channels) of `site` (the prefix tokens first too, if `prefix`) in the forward's dtype
        (bf16 under bf16 autocast): no copy."""
        key = (site.name, prefix)
        if key not in self._tokens:
            self._tokens[key] = site.patch_tokens(self._outputs[site.module], len(self.batch), prefix=prefix)
        return self._tokens[key]

    def tokens(self, site: Site) -> torch.Tensor:
        """(B, patch tokens, channels) of `site`, in fp32 (a copy under bf16: for the few images of a map pass)."""
        return self.raw_tokens(site).float()

    def statistic(self, site: Site, stat: str = "mean") -> torch.Tensor:
        """(B, channels), fp32: each channel's mean (or max) over the patch tokens of each image."""
        key = (site.name, stat)
        if key not in self._stats:
            self._stats[key] = image_statistic(self.raw_tokens(site), stat)
        return self._stats[key]


def image_statistic(tokens: torch.Tensor, stat: str) -> torch.Tensor:
    """(B, C) in fp32 from patch tokens (B, N, C): the mean over tokens (the paper's statistic), or the max;
    summed in fp32 whatever the tokens' dtype, without an fp32 copy of them."""
    if stat == "mean":
        return tokens.mean(dim=1, dtype=torch.float32)
    if stat == "max":
        return tokens.amax(dim=1).float()
    raise ValueError(f"unknown statistic {stat!r}; allowed: mean, max")


class Accumulator(Protocol):
    """What a pass feeds: the sites it needs, each batch's activations, and a merge over ranks at the end."""
    sites: Sequence[Site]

    def update(self, acts: Activations) -> None: ...

    def finish(self, ctx: Context) -> None: ...


@dataclass
class Pass:
    """What a pass saw, over all ranks: images streamed and images skipped as undecodable."""
    images: int
    skipped: int


def hooked_batches(loaded: LoadedModel, sites: Sequence[Site], index: DatasetIndex, split: str, rows: Sequence[int],
                   batch_size: int, device: torch.device, desc: str) -> Iterator[tuple[Batch, dict | None]]:
    """Per batch of the images at `rows`: the batch and the recorded outputs of `sites` (None when every image of
    the batch failed to decode). Each forward stops after the deepest site."""
    model = loaded.prepare(device)
    forward = image_forward(model)
    deepest = max(sites, key=lambda s: s.layer).block if sites else None
    with Recorder(model, [s.module for s in sites], stop_after=deepest) as rec:
        for b in batches(loaded, index, split, rows, batch_size, device, desc=desc):
            if not len(b):
                yield b, None
                continue
            with loaded.autocast(device):
                out = rec.run(forward, b.x)
            yield b, out


@torch.no_grad()
def stream(loaded: LoadedModel, index: DatasetIndex, split: str, rows: Sequence[int],
           accumulators: Sequence[Accumulator], batch_size: int = 64, device: str | torch.device = "cpu",
           desc: str = "") -> Pass:
    """Stream the images at `rows` of a split once through the sites the accumulators need, feeding each batch to
    every accumulator; the rows are shared out over the ranks and the accumulators merged over them."""
    device = torch.device(device)
    sites = list({s.name: s for acc in accumulators for s in acc.sites}.values())
    ctx = context()
    seen = skipped = 0
    for b, out in hooked_batches(loaded, sites, index, split, shard(list(rows), ctx), batch_size, device,
                                 desc or f"{loaded.key} {split}"):
        skipped += b.skipped
        if out is None:
            continue
        acts = Activations(b, out)
        for acc in accumulators:
            acc.update(acts)
        seen += len(b)
    if ctx.world > 1:
        seen, skipped = (int(x) for x in all_sum(torch.tensor([seen, skipped]), ctx))
    for acc in accumulators:
        acc.finish(ctx)
    if skipped:
        log.warning("%s: %d undecodable images skipped", split, skipped)
    return Pass(seen, skipped)
