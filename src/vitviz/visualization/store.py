"""Visualised features on disk: one PNG per feature, a table, and the recipe that made them."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from PIL import Image

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vitviz.visualization.optimize import FeatureResult
from vitviz.visualization.quality import image_failed
from vitviz.visualization.settings import VisSettings

TABLE = "features.csv"
SETTINGS = "settings.json"
IMAGES = "images"


def image_name(site: str, feature: int) -> str:
    """File name of a feature's image, e.g. blocks.3.ffn_f0012.png."""
    return f"{site}_f{feature:04d}.png"


def write_features(results: list[FeatureResult], out_dir: str | Path, model_key: str, settings: VisSettings,
                   selection: dict) -> pd.DataFrame:
    """Write images/, features.csv and settings.json into `out_dir`; return the table. Its `flat_or_black` column is
    the image half of the failed-visualisation rule (`quality.image_failed`), decided here once for every reader."""
    out_dir = Path(out_dir)
    (out_dir / IMAGES).mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        name = image_name(r.site, r.feature)
        Image.fromarray(r.image).save(out_dir / IMAGES / name)
        rows.append({"model": model_key, "site": r.site, "kind": r.kind, "layer": r.layer, "feature": r.feature,
                     "head": r.head if r.head is not None else "", "seed": r.seed, "steps": r.steps,
                     "objective_start": r.objective_start, "objective_final": r.objective_final,
                     "tv_final": r.tv_final, "image": f"{IMAGES}/{name}", "flat_or_black": image_failed(r.image)})
    df = pd.DataFrame(rows)
    df.to_csv(out_dir / TABLE, index=False)
    (out_dir / SETTINGS).write_text(json.dumps({"model": model_key, "settings": settings.model_dump(mode="json"),
                                                "selection": selection}, indent=2) + "\n")
    return df


def read_features(out_dir: str | Path) -> tuple[pd.DataFrame, dict]:
    """The table and the metadata written by `write_features` (its recipe: `recipe_of`)."""
    out_dir = Path(out_dir)
    df = pd.read_csv(out_dir / TABLE, keep_default_na=False)
    return df, json.loads((out_dir / SETTINGS).read_text())


def recipe_of(meta: dict) -> VisSettings:
    """The recipe stored in a features folder's metadata (what `read_features` returns)."""
    return VisSettings.model_validate(meta["settings"])
