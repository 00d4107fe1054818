"""Aggregates of per-feature scores, per layer and kind: means with intervals whose coverage was measured
(vitviz.stats.intervals), or no interval below the minimum number of features."""
from __future__ import annotations

import pandas as pd

from vitviz.stats.intervals import Interval, accuracy_interval, mean_interval

# each score and how its interval is made: the 2-AFC accuracies are means of task outcomes in [0, 1]
ACCURACIES = ("mis_visualization", "mis_natural")
MEANS = ("activation_ratio", "selectivity", "seed_margin")
SCORES = ACCURACIES + MEANS


BOUNDS = {"selectivity": (-1.0, 1.0), "locality": (0.0, 1.0)}   # scores with a bounded range: intervals kept inside


def score_interval(values, column: str, tasks: int) -> Interval:
    """The interval of one score over features (NaN dropped)."""
    if column in ACCURACIES:
        return accuracy_interval(values, tasks)
    return mean_interval(values, bounds=BOUNDS.get(column, (-float("inf"), float("inf"))))


def aggregate(scores: pd.DataFrame, tasks: int) -> pd.DataFrame:
    """One row per (kind, layer) and per kind over all layers (layer -1): n, and each score's mean, lo, hi (NaN
    below the minimum number of features)."""
    rows = []
    groups = [((k, int(l)), g) for (k, l), g in scores.groupby(["kind", "layer"], sort=True)]
    groups += [((k, -1), g) for k, g in scores.groupby("kind", sort=True)]
    for (kind, layer), g in groups:
        row = {"kind": kind, "layer": layer, "features": len(g)}
        for col in SCORES:
            if col in g:
                iv = score_interval(g[col].to_numpy(dtype=float), col, tasks)
                row[col], row[f"{col}_lo"], row[f"{col}_hi"], row[f"{col}_n"] = iv.mean, iv.lo, iv.hi, iv.n
        rows.append(row)
    return pd.DataFrame(rows)
