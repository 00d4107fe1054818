"""Report section for feature visualisation: progression over depth (Fig. 1/8) and attention vs FFN (Fig. 4/12)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import math
from pathlib import Path

import pandas as pd

from vitviz.activations.kinds import ATTENTION_KINDS, KIND_LABELS
from vitviz.visualization.paper_recipe import LR_CLIP, PAPER_RECIPE as R, paper_lr_tv
from vitviz.visualization.store import read_features
from vitviz.report.document import Figure, Para, Section, Table
from vitviz.report.figures import image_grid
from vitviz.report.failed import failed_marks, read_scores
from vitviz.visualization.quality import FAILED_RULE

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

PAPER = {"steps": R.steps, "copies": R.copies, "lr": f"{R.lr} (ViT), {LR_CLIP} (CLIP)",
         "tv_weight": f"{R.tv_weight} (x v per model)", "jitter": f"{R.jitter} px", "noise_std": R.noise_std,
         "shift_bound": R.shift_bound, "scale_bound": R.scale_bound, "betas": str(R.betas),
         "reduce": f"{R.reduce} over patch tokens"}


def _cells(df: pd.DataFrame, base: Path) -> list[tuple[str, Path]]:
    return [(f"L{r.layer} F{r.feature}" + (f" h{r.head}" if str(r.head) != "" else "")
             + (" FAILED" if r.failed else ""), base / r.image) for r in df.itertuples()]


def features_section(params: Params, features_dir: Path, out: Path, metrics: dict) -> Section | None:
    """Fig. 1/8 and Fig. 4/12 style figures, the recipe beside the paper's, and the objectives reached."""
    keys = [k for k in params.optimize_features.models if (features_dir / k / "features.csv").exists()]
    if not keys:
        return None
    blocks = [Para("Activation maximisation as in the authors' code: the objective is the mean over patch tokens "
                   "(prefix tokens excluded) of one channel, averaged over augmented copies (ColorShift per copy "
                   "and channel, per-copy per-channel noise with a linear schedule, one circular jitter for all "
                   "copies), plus total variation; Adam on raw pixels in [0, 1], cosine learning rate, clamp after "
                   "each step. `objective` below is measured on the clean image, without augmentation. "
                   f"{FAILED_RULE}.")]
    metrics.setdefault("features", {})
    for key in keys:
        df, meta = read_features(features_dir / key)
        base = features_dir / key
        sc = read_scores(features_dir.parent / "scores" / key)
        df = failed_marks(df, sc)
        s = meta["settings"]
        ours = {"steps": s["steps"], "copies": s["copies"], "lr": s["lr"], "tv_weight": s["tv_weight"],
                "jitter": f"{s['jitter']} px", "noise_std": s["noise_std"], "shift_bound": s["shift_bound"],
                "scale_bound": s["scale_bound"], "betas": str(tuple(s["betas"])),
                "reduce": f"{s['reduce']} over patch tokens"}
        entry = params.models.get(key)
        lr_p, tv_p = paper_lr_tv(entry.lib, entry.name) if entry is not None else (R.lr, R.tv_weight)
        same = {"lr": math.isclose(float(s["lr"]), lr_p), "tv_weight": math.isclose(float(s["tv_weight"]), tv_p)}
        recipe = pd.DataFrame([{"setting": k, "ours": ours[k], "paper (authors' code)": v,
                                "same": "yes" if same.get(k, str(ours[k]) == str(v)) else "no"}
                               for k, v in PAPER.items()])
        blocks.append(Para(f"**{key}**: {len(df)} features, selected by rule `{meta['selection']['rule']}` "
                           f"(split {meta['selection']['split']})."))
        blocks.append(Table(recipe.astype(str), f"{key}: the recipe used, beside the paper's; 'same' compares "
                                                f"with the paper's recipe for this model (lr {lr_p:g}, TV {tv_p:g})."))
        tv_feats = s.get("tv_features") or {}
        if tv_feats:
            blocks.append(Para(f"{key}: per-feature TV weights ({len(tv_feats)}): " + ", ".join(
                f"{t} {w:g}" for t, w in sorted(tv_feats.items())) + "."))
        ffn = df[df["kind"] == "ffn"]
        if len(ffn):
            ranked = ffn.assign(rank=ffn.groupby("layer").cumcount())
            rows = [(f"#{r + 1}", _cells(g.sort_values("layer"), base)) for r, g in ranked.groupby("rank")]
            name = f"figures/features_{key}_progression.jpg"
            image_grid(rows, out / name)
            blocks.append(Figure(name, f"{key}: FFN features from the first block (left) to the last "
                                       "(right), as in Fig. 1 and 8; row #k holds each layer's k-th selected feature."))
        attn = df[df["kind"].isin(ATTENTION_KINDS)]
        if len(attn):
            layers = sorted(attn["layer"].unique())
            at = df[df["layer"].isin(layers)].sort_values(["layer"], kind="stable")
            rows = [(KIND_LABELS[kind], _cells(at[at["kind"] == kind], base))
                    for kind in (*ATTENTION_KINDS, "ffn") if (at["kind"] == kind).any()]   # attention, then FFN
            name = f"figures/features_{key}_attention.jpg"
            image_grid(rows, out / name)
            blocks.append(Figure(name, f"{key}: attention input, queries, keys and values against FFN features, "
                                       f"in layers {', '.join(map(str, layers))} (as Fig. 4 and 12): one row per kind, layers left to right; "
                                       "h is the attention head of a channel."))
        summary = df.groupby(["layer", "kind"], sort=False).agg(
            features=("feature", "count"), objective_start=("objective_start", "mean"),
            objective_final=("objective_final", "mean"), flat_or_black=("flat_or_black", "sum"),
            failed=("failed", "sum")).reset_index()
        if sc is not None:  # replaces 'improved': rising from noise says nothing about a visualisation
            g = sc.groupby(["layer", "kind"], sort=False)
            summary = summary.merge(g.agg(scored=("feature", "count"), beats_natural=("beats_natural", "sum"),
                                          activation_ratio=("activation_ratio", "mean")).reset_index(),
                                    on=["layer", "kind"], how="left")
            caption = ("'beats_natural' counts scored features whose optimised image beats their best natural image; "
                       "'activation_ratio' is the mean of objective(visualisation) / objective(best natural image); ")
        else:
            caption = ("the scored columns are missing: add the model to score_features.models for the comparison "
                       "with natural images; ")
        blocks.append(Table(summary, f"{key}: mean objective on the clean image, at the start (uniform noise) and "
                                     "after optimisation; " + caption + "'flat_or_black' and 'failed' count the "
                                     "failed visualisations, marked FAILED in the figures."))
        metrics["features"][key] = {"count": int(len(df)), "failed": int(df["failed"].sum()),
                                    "flat_or_black": int(df["flat_or_black"].sum()), **({
                                        "beats_natural_share": float(sc["beats_natural"].astype(bool).mean())}
                                        if sc is not None else {})}
    return Section("Feature visualization", blocks)
