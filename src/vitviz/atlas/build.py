"""Build a model's atlas folder from its mined exemplars, visualised features and the dataset."""
from __future__ import annotations

from pathlib import Path

from vitviz.atlas.export import AtlasOptions, write_atlas_data
from vitviz.atlas.histogram import split_histograms
from vitviz.atlas.page import write_pages
from vitviz.data.imagenet import DatasetIndex
from vitviz.data.loader import crop_transform
from vitviz.exemplars.store import read_exemplars
from vitviz.models.sites import list_sites
from vitviz.models.store import LoadedModel
from vitviz.visualization.store import read_features


def build_atlas(out_dir: str | Path, loaded: LoadedModel, exemplars_dir: str | Path, features_dir: str | Path | None,
                index: DatasetIndex, opts: AtlasOptions, limit: int = 0, bins: int = 24, batch_size: int = 64,
                device: str = "cpu") -> dict:
    """Write the whole site into `out_dir` (`limit`: the images mining streamed, 0 for all); return its overview."""
    ex = read_exemplars(exemplars_dir)
    sites_all = list_sites(loaded.model)
    sites = [sites_all[s] for s in ex.sites["site"]]
    upper = {}
    for r in ex.sites.itertuples():
        top = ex.values[0, int(r.offset):int(r.offset) + int(r.channels)]
        upper[r.site] = top.nan_to_num(0.0)
    hist = split_histograms(loaded, sites, index, ex.meta["split"], limit,
                            ex.meta["stat"], upper, bins, batch_size, device)
    features = recipe = None
    if features_dir is not None and (Path(features_dir) / "features.csv").exists():
        features, recipe = read_features(features_dir)
    overview = write_atlas_data(out_dir, loaded.key, ex, features, recipe,
                                Path(features_dir) if features_dir else None, index, crop_transform(loaded.spec),
                                hist, opts)
    write_pages(out_dir, loaded.key)
    return overview
