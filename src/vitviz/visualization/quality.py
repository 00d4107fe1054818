"""The image half of the failed-visualisation rule: a flat or black image shows nothing of its feature.

It lives beside the visualisations (a layer below scoring and the atlas, which both apply it); the other half,
an objective that does not beat the feature's best natural image, is scoring's `failed` column."""
from __future__ import annotations

import numpy as np

MIN_RANGE = 8       # uint8 levels between the darkest and the brightest value
MIN_STD = 2.0       # uint8 levels of standard deviation over all pixels and channels
RULE = (f"flat or black: its values span fewer than {MIN_RANGE} of 256 levels, or their standard deviation is "
        f"below {MIN_STD:g} levels")
FAILED_RULE = (f"A visualisation is marked failed when its image is {RULE}, or when its objective on the clean image "
               "does not beat the objective of the feature's best natural image of the split (the second half "
               "needs score_features)")


def image_failed(image: np.ndarray) -> bool:
    """Whether a uint8 image (H, W[, 3]) is flat or black (see RULE)."""
    a = np.asarray(image)
    if a.size == 0:
        return True
    a = a.astype(np.float64)
    return bool(a.max() - a.min() < MIN_RANGE or a.std() < MIN_STD)
