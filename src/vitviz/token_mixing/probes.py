"""Token-mixing probes (paper section 4, Table 1, Fig. 7; docs/method.md §4) for timm ViTs with a CLS token.

* natural: the model's own forward (final norm on all tokens, head on CLS);
* isolating CLS at L: blocks < L run on the CLS token alone and on the patch tokens alone, blocks >= L jointly;
  L = 0 is the natural forward, L = depth means the CLS token never sees the image;
* patch head: final norm on all tokens, then the head on each patch token alone (per-patch accuracy grid,
  its mean "Patch Average" and its max "Patch Maximum");
* mean head: the head on the mean of the normed patch tokens.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.loop import classified_rows, count_hits, in_topk, label_map, topk_hits
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


def cls_probe_error(model: nn.Module) -> str | None:
    """None when the model supports the probes, else why not (shown as 'not applicable')."""
    if type(model).__name__ != "VisionTransformer" or not type(model).__module__.startswith("timm"):
        return f"{type(model).__name__} is not a timm VisionTransformer"
    if getattr(model, "cls_token", None) is None or getattr(model, "num_prefix_tokens", 0) != 1:
        return "no single CLS token"
    if getattr(model, "global_pool", "token") != "token":
        return f"the head pools '{model.global_pool}', not the CLS token"
    return None


def embed(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Tokens entering block 0: patch embedding, CLS token and position embeddings."""
    return model.norm_pre(model.patch_drop(model._pos_embed(model.patch_embed(x))))


def head_logits(model: nn.Module, normed: torch.Tensor) -> torch.Tensor:
    """The classifier applied to already normed token features (..., D)."""
    return model.head(model.head_drop(model.fc_norm(normed)))


def isolating_cls_logits(model: nn.Module, x: torch.Tensor, layer: int) -> torch.Tensor:
    """Logits when blocks < `layer` see the CLS token and the patches separately."""
    h = embed(model, x)
    cls, pat = h[:, :1], h[:, 1:]
    for blk in model.blocks[:layer]:
        cls, pat = blk(cls), blk(pat)
    h = torch.cat([cls, pat], dim=1)
    for blk in model.blocks[layer:]:
        h = blk(h)
    return model.forward_head(model.norm(h))


@torch.no_grad()
def _sweep_logits(model: nn.Module, x: torch.Tensor, layers: list[int]) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Logits for every L in `layers` sharing the separate paths, and the normed tokens of the natural pass."""
    h0 = embed(model, x)
    depth = len(model.blocks)
    cls, pat = h0[:1, :1], h0[:, 1:]           # the CLS path does not depend on the image: run it once
    out, normed = {}, None
    for L in range(0, depth + 1):
        if L > 0:
            cls, pat = model.blocks[L - 1](cls), model.blocks[L - 1](pat)
        if L not in layers and not (L == 0 and normed is None):
            continue
        h = torch.cat([cls.expand(len(x), -1, -1), pat], dim=1)
        for blk in model.blocks[L:]:
            h = blk(h)
        n = model.norm(h)
        if L == 0:
            normed = n
        if L in layers:
            out[L] = model.forward_head(n)
    return out, normed


@torch.no_grad()
def run_probes(loaded: LoadedModel, index: DatasetIndex, split: str, layers: list[int], limit: int = 0,
               batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """All probes over a split: natural, isolating CLS per L, patch-head grid, mean-of-patches head."""
    device = torch.device(device)
    model = loaded.prepare(device)
    reason = cls_probe_error(model)
    if reason:
        return {"applicable": False, "reason": reason}
    depth = len(model.blocks)
    layers = sorted({int(L) for L in layers if 0 <= int(L) <= depth})
    rows = classified_rows(index, split, limit, label_map(index.wnids, loaded.spec.class_wnids))
    names = ["natural", "mean_patches", *layers]

    def score(b, t):
        """Top-1/top-5 hits (rows: the probes in `names`, then each patch of the patch head)."""
        with loaded.autocast(device):
            sweep, normed = _sweep_logits(model, b.x, layers + [0])
            mean_head = head_logits(model, normed[:, 1:].mean(1))
            per_patch = head_logits(model, normed[:, 1:])                 # (B, N, classes)
        logits = [sweep[0], mean_head, *[sweep[L] for L in layers]]
        tt = t.view(-1, 1).expand(-1, per_patch.shape[1])
        grid = torch.stack([in_topk(per_patch, tt, 1).sum(0), in_topk(per_patch, tt, 5).sum(0)], dim=1)
        return torch.cat([torch.stack([topk_hits(lg, t) for lg in logits]), grid])

    counts, n, skipped = count_hits(loaded, index, split, rows, batch_size, device, score,
                                    (len(names) + model.patch_embed.num_patches, 2), desc=f"token mixing {loaded.key}")
    if n == 0:
        return {"applicable": False, "reason": "no images"}
    counts = counts.double()
    sums = {name: counts[j] for j, name in enumerate(names)}
    grid = counts[len(names):].T
    pct = lambda v: (100.0 * v / n).tolist()  # noqa: E731
    side = int(round(grid.shape[1] ** 0.5))
    patch1, patch5 = 100.0 * grid[0] / n, 100.0 * grid[1] / n
    return {"applicable": True, "split": split, "images": n, "skipped": skipped, "depth": depth,
            "chance_top1": 100.0 / max(loaded.spec.num_classes, 1),
            "natural": pct(sums["natural"]), "mean_patches": pct(sums["mean_patches"]),
            "isolating_cls": {str(L): pct(sums[L]) for L in layers},
            "patch_average": [float(patch1.mean()), float(patch5.mean())],
            "patch_maximum": [float(patch1.max()), float(patch5.max())],  # each maximised over patches apart
            "patch_maximum_patch": int(patch1.argmax()),  # the best patch on top-1 (row-major; first of ties)
            "patch_maximum_top5_same_patch": float(patch5[patch1.argmax()]),
            "patch_grid_top1": patch1.view(side, side).tolist()}
