"""Appendix F (our reconstruction; the authors' repo has no code for it, docs/method.md §5): does blacking out
active patches remove activation linearly? Active patches are those where the feature's activation exceeds a
threshold; all inactive patches are blacked out first (the baseline), then a growing random fraction of the
active ones, and the count and sum of the still-active patches are compared with the baseline. The features are
drawn at random (seeded) per block from every mined FFN feature, not only the visualised ones, and each block's
R² comes with a bootstrap interval over the drawn features."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.maps import patch_grid
from vitviz.activations.sites import Site
from vitviz.models.store import LoadedModel, normalize
from vitviz.stats.curves import block_curves, feature_curves


def blackout(crops: torch.Tensor, keep: torch.Tensor, patch: int) -> torch.Tensor:
    """Crops (B, 3, H, W) in [0, 1] with every patch not in `keep` (B, gh, gw) set to 0 (black)."""
    pix = keep.repeat_interleave(patch, 1).repeat_interleave(patch, 2)
    return crops * pix[:, None].to(crops.dtype)


@torch.no_grad()
def feature_maps(loaded: LoadedModel, site: Site, feature: int, crops: torch.Tensor) -> torch.Tensor:
    """(B, gh, gw) activation maps of one feature for crops in [0, 1] (normalised here)."""
    with Recorder(loaded.model, [site.module], stop_after=site.block) as rec, loaded.autocast(crops.device):
        out = rec.run(image_forward(loaded.model), normalize(crops, loaded.spec))
        tok = site.patch_tokens(out[site.module], len(crops))[..., feature].float()
    return tok.view(len(crops), *patch_grid(tok.shape[1]))


def blackout_curve(loaded: LoadedModel, site: Site, feature: int, crop: torch.Tensor, threshold: float,
                   fractions: list[float], repeats: int, gen: torch.Generator) -> list[dict] | None:
    """Count and sum of active patches after blacking out a fraction of them, relative to the baseline."""
    patch = loaded.model.patch_embed.patch_size[0]
    a0 = feature_maps(loaded, site, feature, crop[None])[0]
    active0 = a0 > threshold
    if not active0.any():
        return None
    base = feature_maps(loaded, site, feature, blackout(crop[None], active0[None], patch))[0]
    act_b = base > threshold
    count_b, sum_b = int(act_b.sum()), float(base[act_b].sum())
    if count_b == 0:
        return None
    where = active0.flatten().nonzero().flatten()
    keeps, meta = [], []
    for x in fractions:
        for r in range(repeats):
            drop = where[torch.randperm(len(where), generator=gen)[:int(round(x * len(where)))]]
            keep = active0.flatten().clone()
            keep[drop] = False
            keeps.append(keep.view_as(active0))
            meta.append((x, r))
    maps = feature_maps(loaded, site, feature, blackout(crop[None].expand(len(keeps), -1, -1, -1),
                                                        torch.stack(keeps), patch))
    out = []
    for (x, r), m in zip(meta, maps):
        act = m > threshold
        out.append({"fraction": x, "repeat": r, "count_ratio": int(act.sum()) / count_b,
                    "sum_ratio": float(m[act].sum()) / sum_b if sum_b else float("nan")})
    return out


def sample_features(exemplars, per_layer: int | None, seed: int) -> list[tuple[str, int, int]]:
    """(site, layer, feature) of `per_layer` FFN features per block drawn at random (seeded) from every mined
    feature with at least one exemplar; None or 0 keeps every feature. Sorted by layer and feature."""
    rng = np.random.default_rng(seed)
    out = []
    for s in exemplars.sites[exemplars.sites["kind"] == "ffn"].sort_values("layer").itertuples():
        cols = exemplars.indices[:, int(s.offset):int(s.offset) + int(s.channels)]
        have = np.flatnonzero((cols >= 0).any(0).numpy())
        if per_layer and per_layer < len(have):
            have = np.sort(rng.choice(have, per_layer, replace=False))
        out += [(s.site, int(s.layer), int(f)) for f in have]
    return out


def summarize(curves: pd.DataFrame, skipped: dict[int, int] | None = None, seed: int = 0) -> list[dict]:
    """Per block and per curve (count and sum ratios): the features that entered (not flat), the flat ones, the
    skipped feature/exemplar pairs, and the distance from proportional loss y = 1 - x with its interval, the
    slope and the curvature apart from the slope (vitviz.stats.curves), and the mean curve with its band."""
    out = []
    layers = sorted(set(curves["layer"]) if len(curves) else set()) if not skipped else \
        sorted(set(skipped) | (set(curves["layer"]) if len(curves) else set()))
    for layer in layers:
        g = curves[curves["layer"] == layer] if len(curves) else curves
        row: dict = {"layer": int(layer), "skipped": int((skipped or {}).get(layer, 0))}
        for y, name in (("count_ratio", "count"), ("sum_ratio", "sum")):
            if not len(g):
                continue
            x, Y, _ = feature_curves(g, y)
            c = block_curves(x, Y, seed=seed)
            row[name] = {"features": c.sensitive, "flat": c.flat, "x": x.tolist(),
                         "mean_curve": c.mean_curve.tolist(), "band_lo": c.band_lo.tolist(),
                         "band_hi": c.band_hi.tolist(),
                         "distance": [c.distance.mean, c.distance.lo, c.distance.hi],
                         "mean_curve_distance": [c.mean_curve_distance, c.mean_curve_distance_lo,
                                                 c.mean_curve_distance_hi],
                         "slope": [c.slope.mean, c.slope.lo, c.slope.hi],
                         "residual": [c.residual.mean, c.residual.lo, c.residual.hi]}
        out.append(row)
    return out


def appendix_f(loaded: LoadedModel, sites: dict[str, Site], targets: list[tuple[str, int, list[int]]], crops_of,
               threshold: float, fractions: list[float], repeats: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """Curves for every (site, feature, exemplar rows) target; `crops_of(row)` gives a [0, 1] crop.

    Returns one row per (site, feature, exemplar, fraction, repeat), and per layer how many (feature, exemplar)
    pairs were skipped because no patch was active.
    """
    gen = torch.Generator().manual_seed(seed)
    rows, skipped = [], {}
    for site_name, feature, exemplar_rows in tqdm(targets, desc="appendix F features", unit="feature",
                                                  mininterval=2.0, leave=False):
        site = sites[site_name]
        for ex in exemplar_rows:
            curve = blackout_curve(loaded, site, feature, crops_of(ex), threshold, fractions, repeats, gen)
            if curve is None:
                skipped[site.layer] = skipped.get(site.layer, 0) + 1
                continue
            rows += [{"site": site_name, "layer": site.layer, "feature": feature, "exemplar": ex, **c} for c in curve]
    return pd.DataFrame(rows), skipped


def appendix_f_for_model(loaded: LoadedModel, index, exemplars, threshold: float, fractions: list[float],
                         repeats: int, n_exemplars: int, seed: int, features_per_layer: int | None,
                         device: str | torch.device = "cpu") -> tuple[pd.DataFrame, list[dict], pd.DataFrame, int]:
    """Appendix F over FFN features sampled per block from the mined exemplars (docs/method.md §5: every
    (layer, feature); `features_per_layer` None or 0 takes them all) and their top exemplars.

    Returns the raw curves, a per-block summary (`summarize`), the sampled features (site, layer, feature,
    exemplars, whether any of its exemplars had an active patch) and the number of skipped pairs.
    """
    from vitviz.data.imagenet import load_rgb
    from vitviz.activations.sites import list_sites
    from vitviz.models.transforms import eval_transform
    chosen = sample_features(exemplars, features_per_layer, seed)
    targets = [(site, f, exemplars.top(site, f)[0][:n_exemplars]) for site, _, f in chosen]
    used = pd.DataFrame([{"site": site, "layer": layer, "feature": f, "exemplars": " ".join(map(str, t[2]))}
                         for (site, layer, f), t in zip(chosen, targets)],
                        columns=["site", "layer", "feature", "exemplars"])
    raw = eval_transform(loaded.spec, normalize=False)
    df = index.split(exemplars.meta["split"])

    def crops_of(row: int) -> torch.Tensor:
        return raw(load_rgb(index.image_path(df["path"].iloc[row]))).to(device)

    curves, skipped = appendix_f(loaded, list_sites(loaded.model), targets, crops_of, threshold, fractions, repeats,
                                 seed)
    have = set(zip(curves["layer"], curves["feature"])) if len(curves) else set()
    used["curves"] = [(int(layer), int(f)) in have for layer, f in zip(used["layer"], used["feature"])]
    return curves, summarize(curves, skipped, seed), used, sum(skipped.values())
