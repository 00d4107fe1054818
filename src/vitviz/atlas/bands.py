"""Exemplars across a feature's activation range: a few images from each quantile band of its statistic on the
mined random sample (as published feature dashboards show beside the top-k)."""
from __future__ import annotations

import math

import numpy as np

# (lowest quantile, highest quantile, label), top band first; the top 1% is the top-k's.
BANDS = ((0.90, 0.99, "90–99th percentile"), (0.50, 0.90, "50–90th percentile"),
         (0.10, 0.50, "10–50th percentile"), (0.0, 0.10, "bottom 10%"))
PER_BAND = 4


def band_ranks(n: int, lo: float, hi: float) -> tuple[int, int]:
    """The ranks [a, b) (ascending order, 0-based) of a sample of n whose percentile i / n lies in [lo, hi)."""
    return math.ceil(lo * n - 1e-9), math.ceil(hi * n - 1e-9)


def band_exemplars(rows: np.ndarray, values: np.ndarray, bands=BANDS, per_band: int = PER_BAND
                   ) -> list[tuple[list[int], list[float]]]:
    """Per band, `per_band` sample images spread evenly by rank over the band (highest first): their split rows
    and statistics. Rows (n,) and values (n,) are the random sample's; ties go to the lower row."""
    order = np.lexsort((rows, values))                  # ascending value, then row
    out = []
    for lo, hi, _ in bands:
        a, b = band_ranks(len(order), lo, hi)
        if b <= a:
            out.append(([], []))
            continue
        pick = np.unique(np.linspace(a, b - 1, min(per_band, b - a)).round().astype(int))[::-1]
        out.append(([int(rows[order[i]]) for i in pick], [float(values[order[i]]) for i in pick]))
    return out
