"""The image half of the failed-visualisation rule: a flat or black image shows nothing of its feature.

It lives beside the visualisations (a layer below scoring and the atlas, which both apply it); the other half,
an objective that does not beat the feature's best natural image, is scoring's `beats_natural` column.
"""
from __future__ import annotations

import numpy as np

MIN_STD = 2.0       # uint8 levels: a channel whose spatial standard deviation is below it is one level all over
GREY = 8            # uint8 levels: channel means this close to each other are a grey, not a colour
DARK = 24           # uint8 levels: an image whose brightest 1% of values stay at or below it is (near) black
RULE = (f"flat or black: one grey all over (the spatial standard deviation of every channel below {MIN_STD:g} of "
        f"256 levels and the channel means within {GREY} levels of each other; one saturated colour all over is "
        f"kept, as the answer of a colour feature), or near black (its brightest 1% of values at most {DARK} "
        "levels)")
FAILED_RULE = (f"A visualisation is marked failed when its image is {RULE}, or when its objective on the clean image "
               "does not beat the objective of the feature's best natural image of the split (the second half "
               "needs score_features)")


def image_failed(image: np.ndarray) -> bool:
    """Whether a uint8 image (H, W[, C]) is flat or black (see RULE)."""
    a = np.asarray(image, dtype=np.float64)
    if a.size == 0:
        return True
    if a.ndim == 2:
        a = a[..., None]
    per_channel = a.reshape(-1, a.shape[-1])
    means = per_channel.mean(axis=0)
    flat_grey = bool((per_channel.std(axis=0) < MIN_STD).all()) and float(means.max() - means.min()) <= GREY
    return flat_grey or float(np.percentile(a, 99)) <= DARK
