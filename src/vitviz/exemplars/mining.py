"""Exemplar mining in one streaming pass: a bounded running top-k of images for every (site, feature).

The per-image statistic of a feature is its mean over patch tokens (the paper), or the max. Memory is
O(k x features) on the device, whatever the number of images; only the requested sites are hooked, and the
forward stops after the deepest of them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import torch

from vitviz.data.loader import Batch, batches
from vitviz.core.distributed import all_gather, all_sum, context, gather_objects, shard
from vitviz.evaluation.loop import spread_rows
from vitviz.models.hooks import Recorder, image_forward
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.sites import Site
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


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


def site_statistic(site: Site, outputs: list[torch.Tensor], batch: int, stat: str) -> torch.Tensor:
    """(batch, channels): each channel's mean (or max) over the patch tokens of each image."""
    tok = site.patch_tokens(outputs, batch).float()
    return tok.mean(dim=1) if stat == "mean" else tok.amax(dim=1)


@dataclass
class MiningResult:
    """Top-k image rows per feature; columns follow `sites` in order, each site's channels contiguous."""
    sites: list[Site]
    values: torch.Tensor          # (k, total channels), descending
    indices: torch.Tensor         # (k, total channels), rows of the split, -1 where fewer than k images
    images: int
    skipped: int
    split: str
    stat: str

    def offsets(self) -> dict[str, int]:
        out, o = {}, 0
        for s in self.sites:
            out[s.name] = o
            o += s.channels
        return out

    def top(self, site: str, feature: int) -> tuple[list[int], list[float]]:
        """Rows and statistics of the top-k images of one feature, best first."""
        col = self.offsets()[site] + feature
        rows = self.indices[:, col].tolist()
        vals = self.values[:, col].tolist()
        keep = [j for j, r in enumerate(rows) if r >= 0]
        return [rows[j] for j in keep], [vals[j] for j in keep]


def site_outputs(loaded: LoadedModel, sites: list[Site], index: DatasetIndex, split: str, rows: list[int],
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
def mine(loaded: LoadedModel, sites: list[Site], index: DatasetIndex, split: str, k: int, stat: str = "mean",
         limit: int = 0, batch_size: int = 64, device: str | torch.device = "cpu") -> MiningResult:
    """Stream a split once and keep, for every channel of every site, the k images with the highest statistic."""
    device = torch.device(device)
    total = sum(s.channels for s in sites)
    values = torch.full((0, total), float("-inf"), device=device)
    indices = torch.full((0, total), -1, dtype=torch.long, device=device)
    ctx = context()
    rows = shard(spread_rows(len(index.split(split)), limit), ctx)
    seen = skipped = 0
    for b, out in site_outputs(loaded, sites, index, split, rows, batch_size, device, f"mine {loaded.key} ({split})"):
        skipped += b.skipped
        if out is None:
            continue
        stats = torch.cat([site_statistic(s, out[s.module], len(b), stat) for s in sites], dim=1)
        rows_d = b.rows.to(device, non_blocking=True).view(-1, 1).expand(-1, total)
        values, indices = merge_topk(values, indices, stats, rows_d, k, ordered=True)
        seen += len(b)
    if values.shape[0] < k:  # fewer images than k: pad with rows that lose every comparison
        pad = k - values.shape[0]
        values = torch.cat([values, torch.full((pad, total), float("-inf"), device=device)])
        indices = torch.cat([indices, torch.full((pad, total), -1, dtype=torch.long, device=device)])
    if ctx.world > 1:  # merge the ranks' lists exactly: value first, then the lower index
        vs, js = all_gather(values, ctx), all_gather(indices, ctx)
        values, indices = vs[0], js[0]
        for v, j in zip(vs[1:], js[1:]):
            values, indices = merge_topk(values, indices, v, j, k)
        seen, skipped = (int(x) for x in all_sum(torch.tensor([seen, skipped]), ctx))
    values = values.masked_fill(indices < 0, float("nan"))
    if skipped:
        log.warning("%s: %d undecodable images skipped", split, skipped)
    return MiningResult(sites, values.cpu(), indices.cpu(), seen, skipped, split, stat)


def patch_grid(tokens: int) -> tuple[int, int]:
    """The square patch grid of a token count (inputs are square centre crops)."""
    side = int(round(tokens ** 0.5))
    if side * side != tokens:
        raise ValueError(f"{tokens} patch tokens do not form a square grid")
    return side, side


@torch.no_grad()
def activation_maps(loaded: LoadedModel, result: MiningResult, index: DatasetIndex, top: int = 1,
                    batch_size: int = 64, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Per site, maps (channels, top, gh, gw): each feature's activation on the patch grid of its top exemplars.

    A second pass decodes only the images that are an exemplar of some feature, each once.
    """
    device = torch.device(device)
    sites = [s for s in result.sites if s.spatial]
    offsets = result.offsets()
    need = result.indices[:top]
    wanted = sorted({int(r) for r in need.flatten().tolist() if r >= 0})
    ctx = context()
    maps: dict[str, torch.Tensor] = {}
    for b, out in site_outputs(loaded, sites, index, result.split, shard(wanted, ctx), batch_size, device,
                               f"maps {loaded.key}"):
        if out is None:
            continue
        where = {row: j for j, row in enumerate(b.rows.tolist())}                # split row -> place in batch
        for s in sites:
            tok = s.patch_tokens(out[s.module], len(b)).float()          # (b, N, C)
            gh, gw = patch_grid(tok.shape[1])
            if s.name not in maps:
                maps[s.name] = torch.full((s.channels, top, gh, gw), float("nan"))
            cols = need[:, offsets[s.name]:offsets[s.name] + s.channels]  # (top, C)
            hit = torch.isin(cols, b.rows).nonzero(as_tuple=False)         # (n, 2): rank, channel
            if len(hit):
                image = torch.tensor([where[r] for r in cols[hit[:, 0], hit[:, 1]].tolist()])
                vals = tok[image.to(device), :, hit[:, 1].to(device)].cpu()   # (n, N): one copy per site
                maps[s.name][hit[:, 1], hit[:, 0]] = vals.view(-1, gh, gw)    # row-major patch grid
    if ctx.world > 1:  # each rank filled the maps of its own images
        merged: dict[str, torch.Tensor] = {}
        for part in gather_objects(maps, ctx):
            for name, m in part.items():
                merged[name] = m if name not in merged else torch.where(torch.isnan(merged[name]), m, merged[name])
        maps = merged
    return maps
