"""Appendix F (our reconstruction; the authors' repo has no code for it, method.md section 4): does blacking out
active patches remove activation linearly? Active patches are those where the feature's activation exceeds a
threshold; all inactive patches are blacked out first (the baseline), then a growing random fraction of the
active ones, and the count and sum of the still-active patches are compared with the baseline."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from vitviz.models.hooks import Recorder, image_forward
from vitviz.exemplars.mining import patch_grid
from vitviz.models.sites import Site
from vitviz.models.store import LoadedModel, normalize


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


def linearity(df: pd.DataFrame, y: str) -> float:
    """R^2 of a least-squares line through (fraction, y)."""
    x, v = df["fraction"].to_numpy(float), df[y].to_numpy(float)
    ok = ~np.isnan(v)
    x, v = x[ok], v[ok]
    if len(x) < 3 or np.ptp(x) == 0:
        return float("nan")
    fit = np.polyval(np.polyfit(x, v, 1), x)
    ss_tot = ((v - v.mean()) ** 2).sum()
    return float(1 - ((v - fit) ** 2).sum() / ss_tot) if ss_tot > 0 else 1.0


def appendix_f(loaded: LoadedModel, sites: dict[str, Site], targets: list[tuple[str, int, list[int]]], crops_of,
               threshold: float, fractions: list[float], repeats: int, seed: int) -> tuple[pd.DataFrame, int]:
    """Curves for every (site, feature, exemplar rows) target; `crops_of(row)` gives a [0, 1] crop.

    Returns one row per (site, feature, exemplar, fraction, repeat), and how many targets were skipped
    because no patch was active.
    """
    gen = torch.Generator().manual_seed(seed)
    rows, skipped = [], 0
    for site_name, feature, exemplar_rows in targets:
        site = sites[site_name]
        for ex in exemplar_rows:
            curve = blackout_curve(loaded, site, feature, crops_of(ex), threshold, fractions, repeats, gen)
            if curve is None:
                skipped += 1
                continue
            rows += [{"site": site_name, "layer": site.layer, "feature": feature, "exemplar": ex, **c} for c in curve]
    return pd.DataFrame(rows), skipped


def appendix_f_for_model(loaded: LoadedModel, index, features, exemplars, threshold: float, fractions: list[float],
                         repeats: int, n_exemplars: int, seed: int,
                         device: str | torch.device = "cpu") -> tuple[pd.DataFrame, list[dict], int]:
    """Appendix F over a model's visualised FFN features (a features table) and their top exemplars.

    Returns the raw curves, a per-block summary (features, R² of the count and sum curves), and the skip count.
    """
    from vitviz.data.imagenet import load_rgb
    from vitviz.models.sites import list_sites
    from vitviz.models.store import eval_transform
    feats = features[features["kind"] == "ffn"]
    targets = [(r.site, int(r.feature), exemplars.top(r.site, int(r.feature))[0][:n_exemplars])
               for r in feats.itertuples()]
    raw = eval_transform(loaded.spec, normalize=False)
    df = index.split(exemplars.meta["split"])

    def crops_of(row: int) -> torch.Tensor:
        return raw(load_rgb(index.image_path(df["path"].iloc[row]))).to(device)

    curves, skipped = appendix_f(loaded, list_sites(loaded.model), targets, crops_of, threshold, fractions, repeats,
                                 seed)
    summary = [{"layer": int(layer), "features": int(g["feature"].nunique()),
                "r2_count": linearity(g, "count_ratio"), "r2_sum": linearity(g, "sum_ratio")}
               for layer, g in curves.groupby("layer")] if len(curves) else []
    return curves, summary, skipped
