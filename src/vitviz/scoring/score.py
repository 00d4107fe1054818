"""Score every visualised feature of one model: activation ratio, selectivity, MIS twice, seed agreement.

The minimally activating images (and, with seed agreement, a second maximisation from another seed) are one
more optimisation batch with the same recipe as the visualisations; natural images come from one pass over
the split with the explained model (statistics) and one with the similarity model (embeddings).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.models.store import LoadedModel
from vitviz.scoring.activation_ratio import activation_ratio
from vitviz.scoring.mis import mis, sample_tasks
from vitviz.scoring.seed_agreement import seed_agreement
from vitviz.scoring.selectivity import selectivity
from vitviz.scoring.similarity import SimilarityModel
from vitviz.scoring.statistics import image_statistics, split_statistics
from vitviz.activations.loader import batches
from vitviz.scoring.settings import ScoreConfig
from vitviz.visualization.optimize import Target, feature_seed, visualize
from vitviz.visualization.settings import VisSettings

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    """Per-feature scores, and the extra images made for them (uint8), keyed by the visualisation's image name."""
    scores: pd.DataFrame
    min_images: dict[str, np.ndarray] = field(default_factory=dict)
    second_images: dict[str, np.ndarray] = field(default_factory=dict)
    images: int = 0
    skipped: int = 0


@torch.no_grad()
def _natural_embeddings(sim: SimilarityModel, index: DatasetIndex, split: str, rows: list[int], batch_size: int,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    got_rows, got = [], []
    model = sim.loaded
    for b in batches(model, index, split, rows, batch_size, device, desc=f"embed {sim.name}"):
        if len(b):
            with model.autocast(device):
                got.append(sim.embed(b.x).float().cpu())
            got_rows.append(b.rows.cpu())
    return torch.cat(got_rows), torch.cat(got)


def score_features(loaded: LoadedModel, features: pd.DataFrame, images: dict[str, np.ndarray], recipe: VisSettings,
                   index: DatasetIndex, sim: SimilarityModel, cfg: ScoreConfig, device: torch.device,
                   scored: pd.DataFrame | None = None) -> ScoreResult:
    """Scores of the features in `scored` (default: all of `features`); `images` maps features.csv's image
    column to the visualisation (uint8 H x W x 3). Other features of a site serve as the seed-agreement baseline."""
    scored = features if scored is None else scored
    key = loaded.key
    targets = [Target(r.site, int(r.feature)) for r in scored.itertuples()]
    pairs = [(t.site, t.feature) for t in targets]
    # one more optimisation batch with the same recipe: minimise (and maximise from a second seed)
    mins = visualize(loaded, targets, recipe, device=device, maximize=False,
                     seeds=[feature_seed(int(r.seed), key, f"{r.site}/min", int(r.feature)) for r in scored.itertuples()])
    seconds = visualize(loaded, targets, recipe, device=device,
                        seeds=[feature_seed(int(r.seed), key, f"{r.site}/seed2", int(r.feature))
                               for r in scored.itertuples()]) if cfg.seed_agreement else []
    # natural images: the explained model's statistics and the similarity model's embeddings, same rows
    rows = spread_rows(len(index.split(cfg.split)), cfg.limit)
    stat_rows, stats, skipped = split_statistics(loaded, pairs, index, cfg.split, rows, cfg.batch_size, device)
    emb_rows, emb = _natural_embeddings(sim, index, cfg.split, rows, cfg.batch_size, device)
    common = sorted(set(stat_rows.tolist()) & set(emb_rows.tolist()))
    si = {r: i for i, r in enumerate(stat_rows.tolist())}
    ei = {r: i for i, r in enumerate(emb_rows.tolist())}
    stats = stats[[si[r] for r in common]]
    emb = emb[[ei[r] for r in common]]
    # the visualisations, through both models
    vis = [images[r.image] for r in scored.itertuples()]
    site_names = list(dict.fromkeys(scored["site"]))
    on_vis = image_statistics(loaded, vis, site_names, device)
    on_min = image_statistics(loaded, [m.image for m in mins], site_names, device)
    all_names = list(features["image"])
    all_emb = dict(zip(all_names, sim.embed_images([images[n] for n in all_names], device)))
    min_emb = sim.embed_images([m.image for m in mins], device)
    sec_emb = sim.embed_images([s.image for s in seconds], device) if seconds else None
    out = []
    for i, r in enumerate(scored.itertuples()):
        f = int(r.feature)
        col = stats[:, i]
        best = int(torch.argmax(col))
        obj_vis = float(on_vis[r.site][i, f])
        ratio, beats = activation_ratio(obj_vis, float(col[best]))
        z, rank = selectivity(on_vis[r.site][i], f)
        gen = torch.Generator().manual_seed(feature_seed(cfg.seed, key, r.site, f))
        t = sample_tasks(col, cfg.tasks, cfg.k, cfg.quantile, gen)
        qp, qm = emb[t.pos_query], emb[t.neg_query]
        natural = float(mis(qp, qm, emb[t.pos_refs], emb[t.neg_refs], cfg.alpha))
        e_plus = [all_emb[r.image]] + ([sec_emb[i]] if sec_emb is not None else [])
        e_plus = torch.stack(e_plus).expand(cfg.tasks, -1, -1)
        e_minus = min_emb[i].view(1, 1, -1).expand(cfg.tasks, 1, -1)
        visual = float(mis(qp, qm, e_plus, e_minus, cfg.alpha))
        same = other = float("nan")
        if sec_emb is not None:
            others = features[(features["site"] == r.site) & (features["feature"] != f)]["image"]
            if not len(others):  # no other feature of this site: other features of the same layer
                others = features[(features["layer"] == r.layer) & (features["image"] != r.image)]["image"]
            same, other = seed_agreement(all_emb[r.image], sec_emb[i],
                                         torch.stack([all_emb[n] for n in others]) if len(others) else
                                         torch.zeros(0, emb.shape[1]))
        out.append({"model": key, "site": r.site, "kind": r.kind, "layer": int(r.layer), "feature": f,
                    "head": r.head, "image": r.image, "objective_visualization": obj_vis,
                    "objective_min": float(on_min[r.site][i, f]), "objective_natural_top1": float(col[best]),
                    "natural_top1_row": common[best], "activation_ratio": ratio, "beats_natural": beats,
                    "failed": not beats and not (ratio >= cfg.fail_ratio),
                    "selectivity_z": z, "selectivity_rank": rank, "channels": int(on_vis[r.site].shape[1]),
                    "mis_visualization": visual, "mis_natural": natural,
                    "seed_similarity": same, "other_similarity": other, "seed_margin": same - other})
    names = list(scored["image"])
    return ScoreResult(pd.DataFrame(out), dict(zip(names, [m.image for m in mins])),
                       dict(zip(names, [s.image for s in seconds])), len(common), skipped)


def read_images(features_dir: str | Path, names: list[str]) -> dict[str, np.ndarray]:
    """The visualisations (uint8 H x W x 3) of a features folder, by their features.csv image name."""
    return {n: np.array(Image.open(Path(features_dir) / n).convert("RGB")) for n in names}


def select_scored(features: pd.DataFrame, per_site: int | None, sites: dict[str, int] | None = None
                  ) -> pd.DataFrame:
    """The features to score: the first `per_site` of each site in features.csv order (all when None), and the first
    `sites[name]` of the sites that `sites` names."""
    if per_site is None and not sites:
        return features
    rank = features.groupby("site", sort=False).cumcount()
    limit = features["site"].map(lambda s: (sites or {}).get(s, per_site if per_site is not None else len(features)))
    return features[rank < limit]
