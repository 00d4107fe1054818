"""The feature objective read through hooks, and the total variation regulariser (authors' code)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vitviz.activations.sites import Site


def channel_variation(x: torch.Tensor) -> torch.Tensor:
    """(B, 4, C): the unsquared L2 norm, over all positions, of each channel's horizontal, vertical, diagonal
    and anti-diagonal differences."""
    diffs = [x[:, :, :, 1:] - x[:, :, :, :-1],
             x[:, :, 1:, :] - x[:, :, :-1, :],
             x[:, :, 1:, 1:] - x[:, :, :-1, :-1],
             x[:, :, 1:, :-1] - x[:, :, :-1, 1:]]
    return torch.stack([d.flatten(2).norm(dim=2) for d in diffs], dim=1)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-sample TV (B,): unsquared L2 norms of the horizontal, vertical and both diagonal differences,
    taken per channel over all positions, averaged over channels, summed over the four directions."""
    return channel_variation(x).mean(dim=2).sum(dim=1)


def copies_variation(rolled: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """TV (F, copies) of the copies (rolled[f] - m) / s + noise, from the F jittered images alone.

    The shift m and the noise are constant per copy and channel, so they cancel in every difference, and
    the scale s > 0 divides each channel's norm: TV of a copy = sum over directions of the channel mean of
    norm / s. `scale` is s, (F, copies, 3, 1, 1)."""
    norms = channel_variation(rolled)                                      # (F, 4, 3)
    return (norms.unsqueeze(1) / scale.flatten(2).unsqueeze(2)).mean(dim=3).sum(dim=2)


def feature_objective(tokens: torch.Tensor, channels: torch.Tensor, copies: int, reduce: str = "mean"
                      ) -> torch.Tensor:
    """Objective per feature (F,) in fp32 from patch tokens (F*copies, N, C): channel `channels[f]` of feature
    f's rows, reduced over tokens (mean, or sum), averaged over its copies."""
    f = channels.numel()
    t = tokens.reshape(f, copies, tokens.shape[1], tokens.shape[2])
    idx = channels.to(tokens.device).view(f, 1, 1, 1).expand(f, copies, tokens.shape[1], 1)
    per_token = t.gather(3, idx).squeeze(3).float()
    per_copy = per_token.mean(dim=2) if reduce == "mean" else per_token.sum(dim=2)
    return per_copy.mean(dim=1)


@dataclass
class TargetGroup:
    """The targets of a batch that share a site: their positions in the batch and their channels."""
    site: Site
    rows: torch.Tensor
    channels: torch.Tensor
    every_row: bool = False      # rows are 0 .. F-1 in order: the batch's objective needs no gather


def group_targets(sites: list[Site], channels: list[int], device: str | torch.device = "cpu") -> list[TargetGroup]:
    """Targets (sites[f], channels[f]) grouped by site, with index tensors made once on `device`."""
    by_site: dict[str, list[int]] = {}
    for i, s in enumerate(sites):
        by_site.setdefault(s.name, []).append(i)
    return [TargetGroup(sites[rows[0]], torch.tensor(rows, device=device),
                        torch.tensor([channels[i] for i in rows], device=device), rows == list(range(len(sites))))
            for rows in by_site.values()]


def objectives(outputs: dict[str, list[torch.Tensor]], groups: list[TargetGroup], copies: int,
               reduce: str = "mean") -> torch.Tensor:
    """Objective (F,) of every target of a batch whose rows are feature-major (F x copies)."""
    features = sum(len(g.rows) for g in groups)
    out = torch.zeros(features, device=groups[0].rows.device)   # feature_objective is fp32
    for g in groups:
        tok = g.site.patch_tokens(outputs[g.site.module], features * copies, objective=True)
        if g.every_row:   # one group holding every row, in order: no copy of the tokens (nor of their gradient)
            return feature_objective(tok, g.channels, copies, reduce)
        tok = tok.reshape(features, copies, *tok.shape[1:]).index_select(0, g.rows).flatten(0, 1)
        out = out.index_copy(0, g.rows, feature_objective(tok, g.channels, copies, reduce))
    return out


def token_counts(outputs: dict[str, list[torch.Tensor]], groups: list[TargetGroup], features: int
                 ) -> torch.Tensor:
    """Patch tokens N (F,) that each target's objective reduces over, from the hooked outputs of one
    single-copy forward (rows feature-major)."""
    out = torch.zeros(features, device=groups[0].rows.device)
    for g in groups:
        n = g.site.patch_tokens(outputs[g.site.module], features).shape[1]
        out[g.rows] = float(n)
    return out
