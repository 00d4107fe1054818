"""One normalisation and one colour map for activation maps, shared by the report's overlays and the atlas.

A map is shown as its positive part over its own maximum (0: no activation, 1: the map's peak), quantised to
256 levels and coloured through `JET`, matplotlib's 'jet' (its segment data, so no plotting library is needed),
then blended over the image crop with weight `MAP_ALPHA`. The colour bar of a map runs from 0 to that maximum.
"""
from __future__ import annotations

import numpy as np
import torch

MAP_ALPHA = 0.55
LEVELS = 256
# matplotlib's 'jet' segment data: per channel, (position, value) knots of a piecewise-linear ramp
_JET = {"red": ((0.0, 0), (0.35, 0), (0.66, 1), (0.89, 1), (1.0, 0.5)),
        "green": ((0.0, 0), (0.125, 0), (0.375, 1), (0.64, 1), (0.91, 0), (1.0, 0)),
        "blue": ((0.0, 0.5), (0.11, 1), (0.34, 1), (0.65, 0), (1.0, 0))}


def jet_lut(levels: int = LEVELS) -> np.ndarray:
    """(levels, 3) uint8: the colour of level i (i / (levels - 1) of the map's maximum)."""
    x = np.linspace(0.0, 1.0, levels)
    rgb = [np.interp(x, *zip(*_JET[c])) for c in ("red", "green", "blue")]
    return np.round(np.stack(rgb, axis=1) * 255).astype(np.uint8)


JET = jet_lut()


def normalize_map(m: torch.Tensor) -> tuple[torch.Tensor, float]:
    """A map (any shape) as uint8 levels 0..255 of its positive part over its maximum (NaN counts as 0), and that
    maximum (0.0, with all levels 0, when nothing is positive)."""
    m = torch.nan_to_num(m.float(), nan=0.0).clamp_min(0)
    top = float(m.max()) if m.numel() else 0.0
    if top <= 0:
        return torch.zeros_like(m, dtype=torch.uint8), 0.0
    return (m / top * (LEVELS - 1)).round().to(torch.uint8), top


def colorize(levels: np.ndarray) -> np.ndarray:
    """uint8 levels (...,) as their colours (..., 3) in [0, 1]."""
    return JET[np.asarray(levels, dtype=np.int64)].astype(np.float32) / 255
