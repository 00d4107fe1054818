"""Which rows of a split a pass reads."""
from __future__ import annotations

import numpy as np


def spread_rows(n: int, limit: int) -> list[int]:
    """`limit` row numbers spread evenly over 0..n-1 (all rows when limit is 0 or >= n)."""
    if limit <= 0 or limit >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, limit).round().astype(int).tolist()))
