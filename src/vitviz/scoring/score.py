"""Score every visualised feature of one model: activation ratio, selectivity, the machine 2-AFC twice (with
visualisations and with natural exemplars as references, K per side in both), seed agreement.

The visualisation condition's references are K maximising images (the stored visualisation and K - 1 more
from other seeds) and K minimising ones, all made with the same recipe in two more optimisation batches; the
natural condition's are K natural exemplars per side. Natural images come from one pass over the split with the
explained model (statistics) and one with the similarity model (embeddings).
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
from vitviz.scoring.mis import sample_tasks, task_outcomes
from vitviz.scoring.seed_agreement import seed_agreement
from vitviz.scoring.selectivity import max_z, selectivity
from vitviz.scoring.similarity import SimilarityModel
from vitviz.scoring.statistics import image_statistics, split_statistics, values_and_objectives
from vitviz.activations.loader import batches
from vitviz.scoring.settings import ScoreConfig
from vitviz.visualization.optimize import Target, feature_seed, visualize
from vitviz.visualization.settings import VisSettings

log = logging.getLogger(__name__)


@dataclass
class ScoreResult:
    """Per-feature scores, each task's outcome in both conditions, and the extra images made for them (uint8),
    keyed by the visualisation's image name: K minimising images and K - 1 more maximising ones each."""
    scores: pd.DataFrame
    tasks: pd.DataFrame = field(default_factory=pd.DataFrame)
    min_images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    more_images: dict[str, list[np.ndarray]] = field(default_factory=dict)
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
    # two more optimisation batches with the same recipe: K minimising images, K - 1 more maximising ones (and a
    # second maximisation for the seed agreement when K is 1), each from its own seed
    k = cfg.k
    n_more = max(k - 1, 1 if cfg.seed_agreement else 0)
    rows_ = list(scored.itertuples())
    min_seeds = [feature_seed(int(r.seed), key, f"{r.site}/min" + (f"{j}" if j else ""), int(r.feature))
                 for j in range(k) for r in rows_]
    max_seeds = [feature_seed(int(r.seed), key, f"{r.site}/seed{j + 2}", int(r.feature))
                 for j in range(n_more) for r in rows_]
    mins = visualize(loaded, targets * k, recipe, device=device, maximize=False, seeds=min_seeds)
    more = visualize(loaded, targets * n_more, recipe, device=device, seeds=max_seeds) if n_more else []
    n = len(rows_)
    min_of = [[mins[j * n + i] for j in range(k)] for i in range(n)]          # per feature: K minimising results
    more_of = [[more[j * n + i] for j in range(n_more)] for i in range(n)]    # per feature: the other seeds
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
    # selectivity compares the target with every channel of its site: for SAE latents on their pre-activations, as
    # for neurons on dense values (on TopK codes, mostly zeros, a latent would look selective by construction)
    on_vis, dense_vis = values_and_objectives(loaded, vis, site_names, device)
    on_min = image_statistics(loaded, [m[0].image for m in min_of], site_names, device)
    all_names = list(features["image"])
    all_emb = dict(zip(all_names, sim.embed_images([images[n] for n in all_names], device)))
    min_emb = sim.embed_images([m.image for m in mins], device).view(k, n, -1).transpose(0, 1)       # (n, K, D)
    more_emb = sim.embed_images([m.image for m in more], device).view(n_more, n, -1).transpose(0, 1) \
        if n_more else None
    out, task_rows = [], []
    flat = [bool(v) for v in scored["flat_or_black"]]       # the image rule, decided when it was written
    for i, r in enumerate(scored.itertuples()):
        f = int(r.feature)
        col = stats[:, i]
        best = int(torch.argmax(col))
        obj_vis = float(on_vis[r.site][i, f])
        ratio, beats = activation_ratio(obj_vis, float(col[best]))
        z, rank = selectivity(dense_vis[r.site][i], f)
        gen = torch.Generator().manual_seed(feature_seed(cfg.seed, key, r.site, f))
        t = sample_tasks(col, cfg.tasks, k, cfg.quantile, gen)
        qp, qm = emb[t.pos_query], emb[t.neg_query]
        natural_tasks = task_outcomes(qp, qm, emb[t.pos_refs], emb[t.neg_refs], cfg.alpha)
        e_plus = torch.cat([all_emb[r.image][None], more_emb[i][:k - 1]]) if k > 1 else all_emb[r.image][None]
        e_plus = e_plus.expand(cfg.tasks, -1, -1)                                     # (N, K, D): same K refs
        e_minus = min_emb[i].expand(cfg.tasks, -1, -1)
        visual_tasks = task_outcomes(qp, qm, e_plus, e_minus, cfg.alpha)
        natural, visual = float(natural_tasks.mean()), float(visual_tasks.mean())
        task_rows += [{"site": r.site, "feature": f, "task": j, "visualization": float(v), "natural": float(nat)}
                      for j, (v, nat) in enumerate(zip(visual_tasks.tolist(), natural_tasks.tolist()))]
        same = other = float("nan")
        if more_emb is not None:
            others = features[(features["site"] == r.site) & (features["feature"] != f)]["image"]
            if not len(others):  # no other feature of this site: other features of the same layer
                others = features[(features["layer"] == r.layer) & (features["image"] != r.image)]["image"]
            same, other = seed_agreement(all_emb[r.image], more_emb[i][0],
                                         torch.stack([all_emb[n] for n in others]) if len(others) else
                                         torch.zeros(0, emb.shape[1]))
        out.append({"model": key, "site": r.site, "kind": r.kind, "layer": int(r.layer), "feature": f,
                    "head": r.head, "image": r.image, "objective_visualization": obj_vis,
                    "objective_min": float(on_min[r.site][i, f]), "objective_natural_top1": float(col[best]),
                    "natural_top1_row": common[best], "activation_ratio": ratio, "beats_natural": beats,
                    "flat_or_black": flat[i], "failed": flat[i] or not beats,
                    "selectivity_z": z, "selectivity": z / max_z(len(dense_vis[r.site][i])) if z else 0.0,
                    "selectivity_rank": rank, "channels": int(on_vis[r.site].shape[1]),
                    "mis_visualization": visual, "mis_natural": natural,
                    "seed_similarity": same, "other_similarity": other, "seed_margin": same - other})
    names = list(scored["image"])
    return ScoreResult(pd.DataFrame(out), pd.DataFrame(task_rows),
                       dict(zip(names, [[m.image for m in ms] for ms in min_of])),
                       dict(zip(names, [[m.image for m in ms] for ms in more_of])), len(common), skipped)


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
