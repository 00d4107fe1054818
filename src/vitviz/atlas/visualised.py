"""The visualised features of a model as the atlas shows them: each image copied once into vis/, with its recipe
numbers and whether it failed (a flat or black image, or scoring's `failed` flag)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from vitviz.atlas.numbers import rnd


def copy_visualised(features: pd.DataFrame, features_dir: Path, out_dir: Path, scores: dict[tuple[str, int], dict]
                    ) -> dict[tuple[str, int], dict]:
    """Per (site, feature) visualised: its image under out_dir/vis/, seed, steps, objective at the start and the
    end, and `fail`: None, 'image' (flat or black) or 'score' (scored failed)."""
    (out_dir / "vis").mkdir(parents=True, exist_ok=True)
    out = {}
    for r in features.itertuples():
        name = Path(r.image).name
        shutil.copyfile(features_dir / r.image, out_dir / "vis" / name)
        flat = bool(r.flat_or_black)                 # the image rule, decided when the visualisation was written
        scored = scores.get((r.site, int(r.feature)), {})
        fail = "image" if flat else ("score" if scored.get("failed") is True else None)
        out[(r.site, int(r.feature))] = {"img": f"vis/{name}", "seed": str(r.seed), "steps": int(r.steps),
                                         "obj0": rnd(float(r.objective_start)), "obj": rnd(float(r.objective_final)),
                                         "fail": fail, "kind": r.kind, "layer": int(r.layer)}
    return out
