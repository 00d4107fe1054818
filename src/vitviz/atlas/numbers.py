"""How the atlas writes numbers and rows into its data files."""
from __future__ import annotations

import numpy as np


def rnd(x, nd: int = 4) -> float | None:
    """x rounded to `nd` decimals; None when missing or not finite (JSON has no NaN)."""
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def shown_rows(rows, failed: set[int]) -> list[int]:
    """Split rows as the pages use them: -1 for a row whose thumbnail could not be made."""
    return [int(r) if int(r) not in failed else -1 for r in rows]
