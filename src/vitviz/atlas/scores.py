"""The scores of visualised features as the atlas shows them (read from score_features' scores.csv)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

# scores.csv column -> the atlas's short key, in the order the pages list them
COLUMNS = {"activation_ratio": "ratio", "beats_natural": "beats", "selectivity": "sel", "selectivity_z": "selz",
           "mis_visualization": "mis_v", "mis_natural": "mis_n", "seed_margin": "seed", "failed": "failed"}


def _value(x):
    if isinstance(x, str):
        return {"true": True, "false": False}.get(x.strip().lower(), x)
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, float):
        return round(x, 4) if math.isfinite(x) else None
    return x


def read_scores(scores_dir: str | Path | None) -> dict[tuple[str, int], dict]:
    """Per (site, feature) scored: the columns of COLUMNS present in scores.csv, by short key (None: not a number);
    empty when there is no scores.csv."""
    path = Path(scores_dir) / "scores.csv" if scores_dir is not None else None
    if path is None or not path.exists():
        return {}
    df = pd.read_csv(path)
    cols = [c for c in COLUMNS if c in df.columns]
    return {(str(r["site"]), int(r["feature"])): {COLUMNS[c]: _value(r[c]) for c in cols} for _, r in df.iterrows()}
