"""Build a model's atlas folder from its mined exemplars, visualised features and the dataset."""
from __future__ import annotations

from pathlib import Path

from vitviz.atlas.export import write_atlas_data
from vitviz.atlas.scores import read_scores
from vitviz.atlas.settings import AtlasConfig
from vitviz.atlas.page import write_pages
from vitviz.data.imagenet import DatasetIndex
from vitviz.models.transforms import crop_transform
from vitviz.exemplars.store import read_exemplars
from vitviz.models.spec import ModelSpec
from vitviz.visualization.store import read_features


def build_atlas(out_dir: str | Path, spec: ModelSpec, exemplars_dir: str | Path, features_dir: str | Path | None,
                index: DatasetIndex, opts: AtlasConfig, scores_dir: str | Path | None = None) -> dict:
    """Write the whole site of model `spec` into `out_dir` from what mining, visualisation and scoring wrote (no
    pass over the data and no model weights: histograms, densities, the random sample and the logit effects come
    from mining); return its overview."""
    ex = read_exemplars(exemplars_dir)
    features = recipe = None
    if features_dir is not None and (Path(features_dir) / "features.csv").exists():
        features, recipe = read_features(features_dir)
    overview = write_atlas_data(out_dir, spec.key, ex, features, recipe,
                                Path(features_dir) if features_dir else None, index, crop_transform(spec), opts,
                                read_scores(scores_dir))
    write_pages(out_dir, spec.key)
    return overview
