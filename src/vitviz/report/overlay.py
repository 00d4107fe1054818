"""Draw a patch-grid activation map over the image crop the model saw, at the crop's full resolution, with the
normalisation and colour map the atlas uses too (vitviz.activations.mapnorm)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vitviz.activations.mapnorm import MAP_ALPHA, colorize, normalize_map


def upsample_map(amap: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """A (gh, gw) map resized to (H, W): each patch covers its own pixels (nearest), as the model saw them."""
    return F.interpolate(amap[None, None].float(), size=size, mode="nearest")[0, 0].numpy()


def map_maximum(amap: torch.Tensor) -> float:
    """The value the colour bar of `amap`'s overlay runs to: the maximum of its positive part."""
    return normalize_map(amap)[1]


def overlay(crop: np.ndarray, amap: torch.Tensor, alpha: float = MAP_ALPHA) -> np.ndarray:
    """uint8 (H, W, 3): the crop blended with the map, normalised by mapnorm.normalize_map and coloured by its colour
    map (the colour bar runs from 0 to the map's maximum)."""
    levels, _ = normalize_map(amap)
    heat = colorize(upsample_map(levels, crop.shape[:2]).astype(np.uint8))
    out = (1 - alpha) * crop.astype(np.float32) / 255 + alpha * heat
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
