"""A model's input transforms, from its spec through timm's data config: the eval transform and its uint8 crop."""
from __future__ import annotations

from typing import Callable

from vitviz.models.spec import ModelSpec


def crop_transform(spec: ModelSpec) -> Callable:
    """timm's eval transform in its prefetcher form: resize and centre crop to a uint8 (3, H, W) tensor.

    It takes a PIL image, or a uint8 (3, H, W) tensor on any device (except for timm's 'border' crop mode).
    """
    from timm.data import create_transform
    return create_transform(**spec.data_config(), is_training=False, use_prefetcher=True)


def eval_transform(spec: ModelSpec, normalize: bool = True) -> Callable:
    """timm's eval transform for the spec's data config: resize, centre crop, float tensor, normalise.

    With normalize=False the output is the float crop in [0, 1] (timm itself would return uint8 there).
    """
    from timm.data import create_transform
    cfg = spec.data_config()
    if not normalize:
        cfg.update(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return create_transform(**cfg, is_training=False)
