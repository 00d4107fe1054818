"""The failed-visualisation rule applied to a model's visualisations, for every figure of the report that shows
them: the image half (vitviz.visualization.quality) and, for scored features, the objective half."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vitviz.visualization.quality import image_failed


def read_scores(scores_dir: Path) -> pd.DataFrame | None:
    """scores.csv of a model's score_features folder, or None when the model was not scored."""
    csv = Path(scores_dir) / "scores.csv"
    return pd.read_csv(csv) if csv.exists() else None


def failed_marks(df: pd.DataFrame, base: Path, scores: pd.DataFrame | None) -> pd.DataFrame:
    """`df` with `flat_or_black` (the image rule, for every visualisation) and `failed` (that, or a scored feature
    whose objective does not beat its best natural image)."""
    flat = [image_failed(np.asarray(Image.open(base / name).convert("RGB"))) for name in df["image"]]
    out = df.assign(flat_or_black=flat)
    beaten = set()
    if scores is not None and len(scores):
        beaten = {(s, int(f)) for s, f, b in zip(scores["site"], scores["feature"], scores["beats_natural"])
                  if not bool(b)}
    return out.assign(failed=[fl or (s, int(f)) in beaten for fl, s, f in zip(flat, out["site"], out["feature"])])
