"""Exemplar mining: one pass over a split keeps, for every feature of the sites, its top-k and bottom-k images,
the histogram of its per-image statistic, its activation density and its statistic on a seeded random sample of
the images (the atlas's quantile bands and correlations); a second, short pass stores the activation maps of the
exemplars.

The per-image statistic of a feature is its mean over patch tokens (the paper), or the max. Memory is
O(k x features) on the device, whatever the number of images; only the requested sites are hooked, and the
forward stops after the deepest of them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from vitviz.activations.density import Density
from vitviz.activations.histogram import Histogram
from vitviz.activations.maps import PatchMaps
from vitviz.activations.sample import Sample, sample_rows
from vitviz.activations.kinds import LATENT, is_latent
from vitviz.activations.sites import Site, list_sites
from vitviz.activations.stream import stream
from vitviz.activations.topk import TopK, site_offsets
from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


@dataclass
class MiningResult:
    """Top-k image rows per feature; columns follow `sites` in order, each site's channels contiguous; and, per
    site, the histogram of every feature's statistic over the split (see activations.histogram)."""
    sites: list[Site]
    values: torch.Tensor          # (k, total channels), descending
    indices: torch.Tensor         # (k, total channels), rows of the split, -1 where fewer than k images
    images: int
    skipped: int
    split: str
    stat: str
    histograms: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # site -> counts, edge, width
    low_values: torch.Tensor | None = None     # (k, total channels), ascending: the minimising images
    low_indices: torch.Tensor | None = None
    sample_rows: torch.Tensor | None = None    # (n,) split rows of the random sample, ascending
    sample_values: torch.Tensor | None = None  # (n, total channels): the statistic on them
    density: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)   # site -> images, patches, totals

    def offsets(self) -> dict[str, int]:
        return site_offsets(self.sites)

    def top(self, site: str, feature: int) -> tuple[list[int], list[float]]:
        """Rows and statistics of the top-k images of one feature, best first."""
        col = self.offsets()[site] + feature
        rows = self.indices[:, col].tolist()
        vals = self.values[:, col].tolist()
        keep = [j for j, r in enumerate(rows) if r >= 0]
        return [rows[j] for j in keep], [vals[j] for j in keep]


def mining_sites(model: torch.nn.Module, kinds: list[str]) -> list[Site]:
    """The sites of `kinds` at every block, in execution order; a latent kind brings along the site its SAE reads,
    whose neurons the report compares with the latents."""
    every = list_sites(model)
    chosen = [s for s in every.values() if s.kind in kinds]
    missing = [k for k in kinds if is_latent(k) and not any(s.kind == k for s in chosen)]
    if missing:
        log.info("no SAE of the model gives %s: skipped (train one with the sae section)", ", ".join(missing))
    for latent in [s for s in chosen if is_latent(s.kind)]:
        read = every[latent.name[:-len(LATENT)]]
        if read not in chosen:
            chosen.append(read)
    return chosen


def mine(loaded: LoadedModel, sites: list[Site], index: DatasetIndex, split: str, k: int, stat: str = "mean",
         limit: int = 0, batch_size: int = 64, device: str | torch.device = "cpu", bins: int = 24, sample: int = 0,
         seed: int = 0) -> MiningResult:
    """Stream a split once and keep, for every channel of every site, the k images with the highest and the k with
    the lowest statistic, the histogram of the statistic (`bins` power-of-two bins), its activation density, and
    its statistic on `sample` images drawn with `seed` (none when 0)."""
    rows = spread_rows(len(index.split(split)), limit)
    topk, low = TopK(sites, k, stat), TopK(sites, k, stat, lowest=True)
    hist, dens = Histogram(sites, bins, stat), Density(sites)
    samp = Sample(sites, sample_rows(rows, sample, seed), stat) if sample else None
    done = stream(loaded, index, split, rows, [topk, low, hist, dens] + ([samp] if samp else []), batch_size,
                  device, f"mine {loaded.key} ({split})")
    histograms = {}
    for s in sites:
        counts, edge, width = hist.result(s.name)
        histograms[s.name] = {"counts": counts, "edge": edge, "width": width}
    density = {s.name: {"images": dens.images[s.name], "patches": dens.patches[s.name],
                        "totals": torch.tensor(dens.totals[s.name])} for s in sites}
    return MiningResult(sites, topk.values, topk.indices, done.images, done.skipped, split, stat, histograms,
                        low.values, low.indices, samp.rows if samp else None, samp.values if samp else None, density)


def activation_maps(loaded: LoadedModel, result: MiningResult, index: DatasetIndex, top: int = 1,
                    batch_size: int = 64, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Per site, maps (channels, top, gh, gw): each feature's activation on the patch grid of its top exemplars.

    A second pass decodes only the images that are an exemplar of some feature, each once.
    """
    offsets = result.offsets()
    need = result.indices[:top]
    acc = PatchMaps(result.sites, {s.name: need[:, offsets[s.name]:offsets[s.name] + s.channels]
                                   for s in result.sites})
    stream(loaded, index, result.split, acc.rows(), [acc], batch_size, device, f"maps {loaded.key}")
    return acc.maps
