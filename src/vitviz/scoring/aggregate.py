"""Aggregates of per-feature scores: means with 95% percentile-bootstrap intervals, per layer and per kind."""
from __future__ import annotations

import numpy as np
import pandas as pd

SCORES = ("mis_visualization", "mis_natural", "activation_ratio", "selectivity_z", "seed_margin")


def bootstrap_mean(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """(mean, 2.5% and 97.5% percentiles of the bootstrap means); NaNs dropped; NaN triple when empty."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def aggregate(scores: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """One row per (kind, layer) and per kind over all layers (layer -1): n and mean, lo, hi of each score."""
    rng = np.random.default_rng(seed)
    rows = []
    groups = [((k, int(l)), g) for (k, l), g in scores.groupby(["kind", "layer"], sort=True)]
    groups += [((k, -1), g) for k, g in scores.groupby("kind", sort=True)]
    for (kind, layer), g in groups:
        row = {"kind": kind, "layer": layer, "features": len(g)}
        for col in SCORES:
            if col in g:
                row[col], row[f"{col}_lo"], row[f"{col}_hi"] = bootstrap_mean(g[col].to_numpy(), n_boot, rng)
        rows.append(row)
    return pd.DataFrame(rows)
