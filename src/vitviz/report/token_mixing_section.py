"""Report section for token mixing: Table 1, the isolating-CLS sweep, Fig. 7 and Appendix F (Fig. 63/64)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vitviz.stats.curves import MIN_CURVES
from vitviz.stats.intervals import LEVEL, Interval
from vitviz.stats.verdicts import interval_text
from vitviz.report.paper_numbers import CLS_SWEEP, CLS_SWEEP_APPROX, TABLE1, TABLE1_NOTE
from vitviz.report.document import percent_interval, Figure, Para, Section, Table
from vitviz.report.figures import save
from vitviz.report.plot_data import feature_mean_curve

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

ROWS = [("natural", "Natural"), ("isolating_cls", "Isolating CLS (only the last block mixes)"),
        ("patch_average", "Patch Average"), ("patch_maximum", "Patch Maximum"), ("mean_patches", "Mean of patches")]


def _table1(results: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, label in ROWS:
        row = {"probe": label, "paper ViT-B/16 top-1": TABLE1[name][0], "paper top-5": TABLE1[name][1]}
        for key, r in results.items():
            if not r.get("applicable"):
                row[f"{key} top-1"], row[f"{key} top-5"] = "not applicable", ""
                continue
            v = r["isolating_cls"].get(str(r["depth"] - 1)) if name == "isolating_cls" else r[name]
            row[f"{key} top-1"], row[f"{key} top-5"] = (v[0], v[1]) if v else (float("nan"), float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _sweep_plot(results: dict[str, dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for key, r in results.items():
        if r.get("applicable"):
            d = r["depth"]
            Ls = sorted(int(L) for L in r["isolating_cls"])
            ax.plot([L / d for L in Ls], [r["isolating_cls"][str(L)][0] for L in Ls], marker="o", label=key)
    ax.plot([L / 12 for L in CLS_SWEEP], [v[0] for v in CLS_SWEEP.values()], marker="s", ls="--", color="gray",
            label="paper ViT-B/16 (open squares: ≈, partial runs)")
    approx = sorted(CLS_SWEEP_APPROX)
    ax.plot([L / 12 for L in approx], [CLS_SWEEP[L][0] for L in approx], marker="s", ls="none", color="white",
            markeredgecolor="gray")
    ax.set_xlabel("L / depth (blocks before L see CLS and patches apart)"), ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 100), ax.legend(fontsize=8)
    save(fig, path)


def _heatmap(key: str, r: dict, path: Path) -> None:
    g = np.asarray(r["patch_grid_top1"])
    fig, ax = plt.subplots(figsize=(3.6, 3.2))
    im = ax.imshow(g, cmap="viridis", vmin=0, vmax=max(1.0, float(g.max())))
    ax.set_xticks([]), ax.set_yticks([]), ax.set_title(f"{key}: top-1 (%) of the head on each patch", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    save(fig, path)


def _appendix_f_plot(key: str, layers: list[dict], path: Path) -> None:
    """Per block, the mean curve over the features that entered (not flat) with its 95% bootstrap band."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in layers:
        for ax, name in zip(axes, ("count", "sum")):
            c = r.get(name)
            if not c or not c["features"]:
                continue
            line, = ax.plot(c["x"], c["mean_curve"], marker=".", label=f"L{r['layer']} (n = {c['features']})")
            lo, hi = np.asarray(c["band_lo"], float), np.asarray(c["band_hi"], float)
            if np.isfinite(lo).any():
                ax.fill_between(c["x"], lo, hi, color=line.get_color(), alpha=0.12)
    for ax, t in zip(axes, ("count of active patches (Fig. 63)", "sum of active activations (Fig. 64)")):
        ax.plot([0, 1], [1, 0], color="gray", ls=":", lw=1.2, label="y = 1 - x")
        ax.set_xlabel("fraction of active patches blacked out"), ax.set_ylabel("after / before")
        ax.set_title(t, fontsize=10)
    axes[1].legend(fontsize=8, ncol=2)
    fig.suptitle(key, fontsize=10)
    save(fig, path)


def _interval(v: list | None, n: int) -> Interval:
    """An interval stored as [mean, lo, hi] (NaN or null where it does not exist) over n features."""
    mean, lo, hi = [math.nan if x is None else float(x) for x in (v or [None] * 3)]
    return Interval(mean, lo, hi, n, LEVEL)


def _appendix_f_table(layers: list[dict]) -> pd.DataFrame:
    """Per block: the features that entered the figure, the flat and the skipped ones, and the distance from
    proportional loss with its interval, for the count and the sum curves."""
    rows = []
    for r in layers:
        row = {"block": r["layer"], "skipped (no active patch)": r.get("skipped", 0)}
        for name in ("count", "sum"):
            c = r.get(name) or {}
            row[f"{name}: features"] = c.get("features", 0)
            row[f"{name}: flat"] = c.get("flat", 0)
            n = c.get("features", 0)
            row[f"{name}: distance from 1 - x"] = interval_text(_interval(c.get("distance"), n), mean_when_few=True)
            row[f"{name}: slope"] = interval_text(_interval(c.get("slope"), n), mean_when_few=True)
        rows.append(row)
    return pd.DataFrame(rows)


def token_mixing_section(params: Params, data_dir: Path, out: Path, metrics: dict) -> Section | None:
    """Table 1 with the paper's values, the L sweep, the per-patch heat map and Appendix F."""
    findings: list[str] = []      # one-line findings for the summary at the top of the report
    base = data_dir / "token_mixing"
    keys = [k for k in params.token_mixing.models if (base / k / "probes.json").exists()]
    if not keys:
        return None
    results = {k: json.loads((base / k / "probes.json").read_text()) for k in keys}
    blocks = [Para("Probes as in the authors' code: the final norm is applied to all tokens before any head. "
                   "Isolating CLS at L runs blocks below L on the CLS token alone and on the patch tokens alone, "
                   "and blocks from L on jointly (L = 0 is the natural forward; L = depth means the CLS token never "
                   "sees the image). Table 1's isolating row is L = depth - 1."),
              Table(_table1(results), "Table 1. " + TABLE1_NOTE)]
    sweep = []
    for k, r in results.items():
        if r.get("applicable"):
            for L, v in sorted(r["isolating_cls"].items(), key=lambda kv: int(kv[0])):
                pl = int(L) * 12 // r["depth"] if r["depth"] and (int(L) * 12) % r["depth"] == 0 else None
                p = CLS_SWEEP.get(pl) if pl is not None else None
                shown = "" if p is None else (f"≈{p[0]:.2f} (L = {pl}, partial run)" if pl in CLS_SWEEP_APPROX
                                              else f"{p[0]:.2f}")
                sweep.append({"model": k, "L": int(L), "L / depth": int(L) / r["depth"], "top-1": v[0], "top-5": v[1],
                              "paper top-1 at same L/depth": shown})
    if sweep:
        blocks.append(Table(pd.DataFrame(sweep), "Isolating-CLS sweep over L; the paper's ViT-B/16 value where "
                                                 "L/depth matches one of its 12 blocks. Values marked ≈ (L = "
                                                 + ", ".join(map(str, sorted(CLS_SWEEP_APPROX)))
                                                 + ") come from partial runs of the authors (docs/method.md §4.3)."))
        _sweep_plot(results, out / "figures" / "cls_sweep.png")
        blocks.append(Figure("figures/cls_sweep.png", "Top-1 against the first block where CLS and patches mix."))
    metrics["token_mixing"] = {}
    for k, r in results.items():
        if not r.get("applicable"):
            continue
        _heatmap(k, r, out / "figures" / f"patch_head_{k}.png")
        blocks.append(Figure(f"figures/patch_head_{k}.png", f"Fig. 7: {k}, top-1 of the classifier applied to each "
                                                            "patch token alone, on the patch grid."))
        n_img = r.get("images") or 0
        if n_img:
            iso = r["isolating_cls"].get(str(r["depth"] - 1), [None])[0]
            findings.append(f"{k}: top-1 {percent_interval(r['natural'][0], n_img)} natural, "
                            + (f"{percent_interval(iso, n_img)} with the CLS token isolated until the last block, "
                               if iso is not None else "")
                            + f"{percent_interval(r['patch_average'][0], n_img)} on average from one patch token "
                            f"alone ({n_img} images; Table 1).")
        metrics["token_mixing"][k] = {"natural_top1": r["natural"][0], "patch_average_top1": r["patch_average"][0],
                                      "patch_maximum_top1": r["patch_maximum"][0],
                                      "isolating_cls_top1": r["isolating_cls"].get(str(r["depth"] - 1), [None])[0]}
        af_path = data_dir / "appendix_f" / k / "appendix_f.csv"
        if af_path.exists() and af_path.stat().st_size > 1:
            curves = pd.read_csv(af_path)
            if len(curves):
                meta = json.loads((af_path.parent / "appendix_f.json").read_text())
                _appendix_f_plot(k, meta["layers"], out / "figures" / f"appendix_f_{k}.png")
                n_per = meta.get("features_per_layer")
                blocks.append(Para(
                    f"Appendix F for {k} (our reconstruction; the repo has no code for it): a patch is active where "
                    f"the raw activation exceeds {meta['threshold']}; all inactive patches of a feature's top "
                    "exemplar are blacked out (the baseline), then a random fraction x of the active ones. The "
                    "paper's claim, that each patch's activation depends on its own content (spatial information is "
                    "preserved), predicts proportional loss: the remaining share y = 1 - x. Each feature's curve is "
                    "judged against that line: its mean absolute distance from 1 - x (0: proportional loss; a step, "
                    "which keeps the activation until every active patch is gone, gives 0.41 on this grid), "
                    "averaged over the block's features with a 95% t interval (its coverage measured by "
                    f"simulation; none below {meta.get('min_curves', 5)} features). A flat curve (within "
                    f"{meta.get('flat_tolerance', 0.1)} of 1 everywhere: blacking out the active patches changes "
                    "nothing) is the opposite of locality; such features are counted apart, not scored. Features: "
                    + (f"{n_per} per block drawn at random (seed {params.appendix_f.seed}) from every mined FFN "
                       "feature" if n_per else "every mined FFN feature of every block (docs/method.md §5)")
                    + (" (listed below and" if n_per else " (listed")
                    + f" in data/appendix_f/{k}/features.csv); curves are averaged over features."
                    f" {meta['skipped_no_active']} feature/exemplar pairs had no active patch and were "
                    "skipped."))
                blocks.append(Figure(f"figures/appendix_f_{k}.png", "Fig. 63/64: active-patch count and sum after "
                                     "blacking out a fraction of the active patches, mean over the block's features "
                                     "that are not flat, with a pointwise 95% percentile bootstrap band over "
                                     f"features, drawn from {MIN_CURVES} features on (a guide to the spread: unlike the "
                                     "intervals of the table, its coverage at these sizes was not measured; dotted: "
                                     "proportional loss, y = 1 - x)."))
                blocks.append(Table(_appendix_f_table(meta["layers"]), "Appendix F per block: features that entered "
                                    "the figure (not flat), flat ones and skipped feature/exemplar pairs; the mean "
                                    "distance of a feature's curve from y = 1 - x [95% interval]; the slope b of "
                                    "1 - y = b x (1: proportional loss)."))
                used = af_path.parent / "features.csv"
                if used.exists() and n_per:
                    f_df = pd.read_csv(used)
                    f_df = f_df[f_df["curves"].astype(bool)] if "curves" in f_df else f_df
                    blocks.append(Table(f_df.groupby("layer")["feature"].apply(
                        lambda f: ", ".join(map(str, sorted(f)))).reset_index(name="features with an active patch"),
                        "Appendix F: the drawn features that had an active patch (the others are the skipped "
                        "count above); the flat ones among them are counted apart in the table."))
                dist = [(row["layer"], _interval(row["sum"]["distance"], row["sum"]["features"]))
                        for row in meta["layers"] if row.get("sum")]
                dist = [(layer, iv) for layer, iv in dist if iv.enough]
                if dist:
                    findings.append(f"{k}, Appendix F: the sum curves' mean distance from proportional loss (0: "
                                    "each patch carries its own activation) is "
                                    + "; ".join(f"{interval_text(iv)} at block {layer}" for layer, iv in dist) + ".")
                for row in meta["layers"]:
                    if row.get("sum"):
                        metrics["token_mixing"][k][f"appendix_f_distance_sum_L{row['layer']}"] = \
                            row["sum"]["distance"][0]
    return Section("Token mixing: Table 1, Fig. 7, Appendix F", blocks, findings)
