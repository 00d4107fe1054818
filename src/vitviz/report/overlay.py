"""Draw a patch-grid activation map over the image crop the model saw, at the crop's full resolution."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps


def upsample_map(amap: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """A (gh, gw) map resized to (H, W): each patch covers its own pixels (nearest), as the model saw them."""
    return F.interpolate(amap[None, None].float(), size=size, mode="nearest")[0, 0].numpy()


def overlay(crop: np.ndarray, amap: torch.Tensor, alpha: float = 0.55, cmap: str = "jet") -> np.ndarray:
    """uint8 (H, W, 3): the crop blended with the min-max normalised map in a colour map."""
    m = upsample_map(amap, crop.shape[:2])
    lo, hi = float(np.nanmin(m)), float(np.nanmax(m))
    m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    heat = colormaps[cmap](m)[..., :3]
    out = (1 - alpha) * crop.astype(np.float32) / 255 + alpha * heat
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
