"""Report section for exemplars: image | exemplar | map panels (Fig. 3/6/9), top-k rows (Fig. 2/11), locality."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image

from vitviz.report.failed import failed_marks, read_scores
from vitviz.exemplars.store import read_exemplars
from vitviz.visualization.store import read_features
from vitviz.data.imagenet import DatasetIndex, load_rgb
from vitviz.models.spec import ModelSpec
from vitviz.report.overlay import map_maximum, overlay
from vitviz.models.transforms import eval_transform
from vitviz.report.document import Figure, Para, Section, Table
from vitviz.report.figures import image_grid, save

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params


def _crop(index: DatasetIndex, split: str, row: int, transform) -> np.ndarray:
    path = index.image_path(index.split(split)["path"].iloc[row])
    x = transform(load_rgb(path))
    return (x.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


def _locality_plot(tables: dict[str, pd.DataFrame], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    for key, t in tables.items():
        ax.plot(t["layer"], t["top_share"], marker="o", label=key)
        ax.plot(t["layer"], t["uniform"], ls="--", color="gray", lw=1)
    ax.set_xlabel("block"), ax.set_ylabel("activation mass in top patches")
    ax.set_ylim(0, 1), ax.legend(fontsize=8)
    ax.set_title("spatial locality of activation maps (dashed: a uniform map)", fontsize=9)
    save(fig, path)


def _concept(ex, site: str, feature: int) -> str:
    """'\n<best label> (+margin)' for a feature with CLIP concept labels (our extension), else ''."""
    words = ex.labels(site, feature)
    if not words:
        return ""
    row = ex.concepts[(ex.concepts["site"] == site) & (ex.concepts["feature"] == feature)]
    margin = f" (+{float(row['margin'].iloc[0]):.3f})" if "margin" in row.columns and len(row) else ""
    return f"\n{words[0]}{margin}"


def _label(r) -> str:
    """'L3 F46' for an FFN feature, else with its kind: 'L3 resid.sae F374'."""
    return f"L{r.layer} F{r.feature}" if r.kind == "ffn" else f"L{r.layer} {r.kind} F{r.feature}"


def _optimised(path: Path, failed: bool) -> tuple[str, np.ndarray]:
    """The caption and image of a visualisation cell, marked FAILED by the failed-visualisation rule."""
    return ("optimised FAILED" if failed else "optimised", np.asarray(Image.open(path).convert("RGB")))


def exemplars_section(params: Params, index: DatasetIndex, data_dir: Path, out: Path, metrics: dict) -> Section | None:
    """Panels pairing each visualised feature with its exemplars and maps, and locality per block."""
    keys = [k for k in params.mine_exemplars.models if (data_dir / "exemplars" / k / "meta.json").exists()]
    if not keys:
        return None
    cfg = params.mine_exemplars
    blocks = [Para(f"Exemplars: one streaming pass over the **{cfg.split}** split ranks every image by each feature's "
                   f"**{cfg.stat}** over patch tokens (prefix tokens excluded) and keeps the top {cfg.k} per feature "
                   "(ties to the lower image index), as the authors' code does with k = 1. The activation map is the "
                   "feature's activation at each patch of the exemplar's crop, reshaped row-major to the patch grid "
                   "and drawn over the crop as its positive part over its maximum (the atlas draws it the same way); each "
                   "map's colour bar runs from 0 to that maximum, in the feature's own units.")]
    locality = {}
    metrics.setdefault("exemplars", {})
    for key in keys:
        ex = read_exemplars(data_dir / "exemplars" / key)
        spec = ModelSpec.read(data_dir / "models" / key)
        transform = eval_transform(spec, normalize=False)
        split = ex.meta["split"]
        feats_dir = data_dir / "features" / key
        if (feats_dir / "features.csv").exists():
            fdf, _ = read_features(feats_dir)
            fdf = fdf[fdf["site"].isin(set(ex.sites["site"]))]
            fdf = failed_marks(fdf, read_scores(data_dir / "scores" / key))
            rows = []
            for r in fdf.itertuples():
                top, vals = ex.top(r.site, r.feature)
                amap = ex.map(r.site, r.feature, 0)
                if not top or amap is None:
                    continue
                crop = _crop(index, split, top[0], transform)
                name = str(index.split(split)["wnid"].iloc[top[0]])
                cls = index.short_names[int(index.split(split)["label"].iloc[top[0]])]
                label = _label(r) + _concept(ex, r.site, r.feature)
                rows.append((label, [
                    _optimised(feats_dir / r.image, r.failed),
                    (f"exemplar: {cls}" if cls != name else "top exemplar", crop),
                    (f"map {amap.shape[0]}x{amap.shape[1]}", overlay(crop, amap), map_maximum(amap))]))
            if rows:
                name = f"figures/exemplars_{key}_panels.jpg"
                image_grid(rows, out / name)
                blocks.append(Figure(name, f"{key}: each visualised feature beside its top {split} exemplar and "
                                           "the feature's activation map on it (as Fig. 3, 6 and 9)."))
            chosen = fdf[fdf["kind"] == "ffn"].sort_values(["layer"], ascending=False, kind="stable")
            rows = []
            for r in chosen.head(params.report.exemplar_features).itertuples():
                top, vals = ex.top(r.site, r.feature)
                cells = [_optimised(feats_dir / r.image, r.failed)]
                cells += [(f"#{j + 1}: {v:.2f}", _crop(index, split, t, transform)) for j, (t, v) in
                          enumerate(zip(top, vals))]
                rows.append((_label(r) + _concept(ex, r.site, r.feature), cells))
            if rows:
                name = f"figures/exemplars_{key}_topk.jpg"
                image_grid(rows, out / name)
                blocks.append(Figure(name, f"{key}: optimised images beside their top-{ex.meta['k']} exemplars "
                                           "with their statistic (as Fig. 2 and 11)."))
        if ex.concepts is not None and len(ex.concepts):
            blocks.append(Para(f"{key}: the words under a feature are CLIP concept labels, **this project's "
                               "extension, not the paper's**: the prompt closest to the mean embedding of "
                               "crops of the feature's top exemplars centred on the peak of its activation map "
                               f"(side {params.mine_exemplars.concepts.region:g} of the input; exemplars without a "
                               "stored map are embedded whole), with its cosine margin over the next prompt "
                               "(a small margin is a weak label)."))
        loc = ex.locality
        if len(loc):
            locality[key] = loc
            blocks.append(Table(loc.rename(columns={"top_share": f"mass in top {ex.meta['locality_fraction']:.0%}"}),
                                f"{key}: spatial locality per block: the share of positive activation mass in the "
                                "top patches of each stored map, averaged over features and exemplars; a uniform "
                                "map gives the last column. Values well above it mean the feature fires on a part "
                                "of the image, so spatial information survives in that block.", floatfmt="{:.3f}"))
            metrics["exemplars"][key] = {f"locality_L{int(r.layer)}": float(r.top_share) for r in loc.itertuples()}
        metrics["exemplars"].setdefault(key, {})["images"] = int(ex.meta["images"])
    if locality:
        _locality_plot(locality, out / "figures" / "locality.png")
        blocks.append(Figure("figures/locality.png", "Spatial locality of activation maps, per block."))
    return Section("Exemplars and activation maps", blocks)
