"""Activation ratio: the objective on the optimised image over the objective on the best natural image."""
from __future__ import annotations


def activation_ratio(visualization: float, best_natural: float) -> tuple[float, bool]:
    """(ratio, beats): ratio is NaN when the best natural objective is not positive; beats compares raw values."""
    ratio = visualization / best_natural if best_natural > 0 else float("nan")
    return ratio, bool(visualization > best_natural)
