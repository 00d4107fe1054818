"""The failed-visualisation rule applied to a model's visualisations, for every figure of the report that shows
them: the image half (vitviz.visualization.quality) and, for scored features, the objective half."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_scores(scores_dir: Path) -> pd.DataFrame | None:
    """scores.csv of a model's score_features folder, or None when the model was not scored."""
    csv = Path(scores_dir) / "scores.csv"
    return pd.read_csv(csv) if csv.exists() else None


def failed_marks(df: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """`df` (a features table, whose `flat_or_black` is the image rule) with `failed`: that, or a scored feature
    whose objective does not beat its best natural image."""
    flat = [bool(v) for v in df["flat_or_black"]]
    out = df
    beaten = set()
    if scores is not None and len(scores):
        beaten = {(s, int(f)) for s, f, b in zip(scores["site"], scores["feature"], scores["beats_natural"])
                  if not bool(b)}
    return out.assign(failed=[fl or (s, int(f)) in beaten for fl, s, f in zip(flat, out["site"], out["feature"])])
