"""The feature objective read through hooks, and the total variation regulariser (authors' code)."""
from __future__ import annotations

import torch

from .sites import Site


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-sample TV (B,): unsquared L2 norms of the horizontal, vertical and both diagonal differences,
    taken per channel over all positions, averaged over channels, summed over the four directions."""
    diffs = [x[:, :, :, 1:] - x[:, :, :, :-1],
             x[:, :, 1:, :] - x[:, :, :-1, :],
             x[:, :, 1:, 1:] - x[:, :, :-1, :-1],
             x[:, :, 1:, :-1] - x[:, :, :-1, 1:]]
    return sum(d.flatten(2).norm(dim=2).mean(dim=1) for d in diffs)


def feature_objective(tokens: torch.Tensor, channels: torch.Tensor, copies: int, reduce: str = "mean"
                      ) -> torch.Tensor:
    """Objective per feature (F,) from patch tokens (F*copies, N, C): channel `channels[f]` of feature f's
    rows, reduced over tokens (mean, or sum), averaged over its copies."""
    f = channels.numel()
    t = tokens.reshape(f, copies, tokens.shape[1], tokens.shape[2])
    idx = channels.to(tokens.device).view(f, 1, 1, 1).expand(f, copies, tokens.shape[1], 1)
    per_token = t.gather(3, idx).squeeze(3)
    per_copy = per_token.mean(dim=2) if reduce == "mean" else per_token.sum(dim=2)
    return per_copy.mean(dim=1)


def objectives(outputs: dict[str, list[torch.Tensor]], sites: list[Site], channels: list[int], copies: int,
               reduce: str = "mean") -> torch.Tensor:
    """Objective (F,) for targets (sites[f], channels[f]), whose rows are feature-major in the batch."""
    batch = len(sites) * copies
    out = [None] * len(sites)
    by_site: dict[str, list[int]] = {}
    for i, s in enumerate(sites):
        by_site.setdefault(s.name, []).append(i)
    for name, rows in by_site.items():
        site = sites[rows[0]]
        tok = site.patch_tokens(outputs[site.module], batch)
        tok = tok.reshape(len(sites), copies, *tok.shape[1:])[rows].flatten(0, 1)
        vals = feature_objective(tok, torch.tensor([channels[i] for i in rows]), copies, reduce)
        for j, i in enumerate(rows):
            out[i] = vals[j]
    return torch.stack(out)
