"""Spatial locality of activation maps as a number: the share of activation mass in the top patches."""
from __future__ import annotations

import math

import pandas as pd
import torch


def top_share(maps: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """For maps (..., gh, gw): the share of positive activation mass held by the top `fraction` of patches.

    1.0 when one patch holds all of it; `fraction` for a uniform map; NaN when no patch is positive.
    """
    flat = maps.flatten(-2).float().clamp_min(0)
    n = max(1, math.ceil(fraction * flat.shape[-1]))
    total = flat.sum(-1)
    top = flat.topk(n, dim=-1).values.sum(-1)
    return torch.where(total > 0, top / total, torch.full_like(total, float("nan")))


def locality_table(maps: dict[str, torch.Tensor], layers: dict[str, int], fraction: float = 0.1) -> pd.DataFrame:
    """Per site: layer, maps counted, mean top-share, and the uniform baseline (the fraction itself, rounded up)."""
    rows = []
    for site, m in maps.items():
        share = top_share(m, fraction).flatten()
        ok = share[~share.isnan()]
        n = m.shape[-1] * m.shape[-2]
        rows.append({"site": site, "layer": layers[site], "maps": int(ok.numel()),
                     "top_share": float(ok.mean()) if ok.numel() else float("nan"),
                     "uniform": math.ceil(fraction * n) / n})
    return pd.DataFrame(rows).sort_values("layer", kind="stable").reset_index(drop=True)
