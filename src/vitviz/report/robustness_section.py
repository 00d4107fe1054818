"""Report section for robustness: masking (Tables 2 and 3, Fig. 9b) and low-pass filtering (Fig. 16)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator
import numpy as np
import pandas as pd
import torch
from PIL import Image

from vitviz.data.imagenet import DatasetIndex, try_load_rgb
from vitviz.evaluation.masking import VARIANTS, MaskedViews, fill_value
from vitviz.models.spec import ModelSpec
from vitviz.report.paper_numbers import MASKING, MASKING_NOTE
from vitviz.models.transforms import eval_transform
from vitviz.report.document import percent_interval, Figure, Para, Section, Table
from vitviz.report.figures import save

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

UNIT_LABELS = {"cycles_per_image": "cutoff (cycles per image of the crop)",
               "fraction_of_nyquist": "cutoff (fraction of the crop's Nyquist frequency)"}


def _load(dir_: Path, keys: list[str]) -> dict[str, dict]:
    return {k: json.loads((dir_ / f"{k}.json").read_text()) for k in keys if (dir_ / f"{k}.json").exists()}


def _mask_table(results: dict[str, dict], k: int) -> pd.DataFrame:
    rows = [{"model": key, "kind": r["kind"], "source": "ours", "images": r["images"],
             "full image (%)": r[f"full_top{k}"], "foreground / full (%)": r[f"foreground_rel_top{k}"],
             "background / full (%)": r[f"background_rel_top{k}"], "background (%)": r[f"background_top{k}"],
             "chance (%)": min(100.0, k * r["chance_top1"])} for key, r in results.items()]
    col = {1: (2, 3, 4), 5: (5, 6, 7)}[k]
    rows += [{"model": m[0], "kind": m[1], "source": "paper", "images": "",
              "full image (%)": m[col[0]], "foreground / full (%)": m[col[1]], "background / full (%)": m[col[2]],
              "background (%)": m[col[0]] * m[col[2]] / 100, "chance (%)": k * 0.1} for m in MASKING]
    return pd.DataFrame(rows).sort_values(["source", "kind"], ascending=[True, False], kind="stable")


def _example(params: Params, index: DatasetIndex, data_dir: Path, out: Path) -> str | None:
    cfg = params.mask_eval
    key = cfg.models[0]
    df = index.split(cfg.split)
    rows = [i for i, b in enumerate(index.boxes(cfg.split)) if b]
    if not rows:
        return None
    rows = rows[min(cfg.example, len(rows) - 1):] + rows[:min(cfg.example, len(rows) - 1)]
    r, pil = next(((r, im) for r in rows if (im := try_load_rgb(index.image_path(df["path"].iloc[r]))) is not None),
                  (None, None))   # the first decodable image from the requested one on
    if pil is None:
        return None
    spec = ModelSpec.read(data_dir / "models" / key)
    t = eval_transform(spec, normalize=False)
    img = torch.from_numpy(np.array(pil))
    views = MaskedViews(index.boxes(cfg.split), fill_value(cfg.fill, spec.mean))(img, r)
    fig, axes = plt.subplots(1, 3, figsize=(6, 2.3))
    for ax, v, view in zip(axes, VARIANTS, views):
        ax.imshow(t(Image.fromarray(view.numpy())).permute(1, 2, 0).numpy())
        ax.set_title({"full": "image", "foreground": "foreground only", "background": "background only"}[v],
                     fontsize=8)
        ax.axis("off")
    save(fig, out / "figures" / "masking_example.jpg")
    return "figures/masking_example.jpg"


def _lowpass_plot(results: dict[str, dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for key, r in results.items():
        c = [p["cutoff"] for p in r["curve"]]
        a = [p["top1"] for p in r["curve"]]
        ax.plot(c, a, marker="o", ls="-" if r["kind"] == "vit" else "--", label=f"{key} ({r['kind']})")
    chance = next(iter(results.values())).get("chance_top1")
    unit = next(iter(results.values())).get("unit", "fraction_of_nyquist")
    ax.set_xscale("log"), ax.set_xlabel(UNIT_LABELS[unit]), ax.set_ylabel("top-1 (%)")
    cutoffs = sorted({p["cutoff"] for r in results.values() for p in r["curve"]})
    ax.xaxis.set_major_locator(FixedLocator(cutoffs))                 # the ticks at the cutoffs used, nothing else
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{c:g}" for c in cutoffs], rotation=45 if len(cutoffs) > 6 else 0, fontsize=9)
    ax.set_ylim(0, 100), ax.legend(fontsize=9), ax.set_title("accuracy of low-passed images (as Fig. 16)", fontsize=10)
    if chance:
        ax.axhline(chance, color="gray", lw=1, ls=":")
    save(fig, path)


def robustness_section(params: Params, index: DatasetIndex, data_dir: Path, out: Path, metrics: dict
                       ) -> Section | None:
    """Tables 2 and 3 with the paper's values beside ours, the masking example, and the low-pass curves."""
    findings: list[str] = []      # one-line findings for the summary at the top of the report
    masks = _load(data_dir / "mask_eval", params.mask_eval.models)
    lows = _load(data_dir / "lowpass_eval", params.lowpass_eval.models)
    if not masks and not lows:
        return None
    blocks = []
    if masks:
        m = params.mask_eval
        blocks.append(Para(
            f"Masking as the authors' code does it: on the **{m.split}** images that have a box XML, the "
            f"true-class boxes are filled ({m.fill}) at the original resolution, before the model's resize and "
            "centre crop; 'foreground only' fills everything outside the boxes. Foreground and background "
            "accuracy are given as a percentage of the full-image accuracy (the paper's normalisation). "
            + ("Annotated images with no box of their class are kept, as in the authors' code (foreground all "
               "black, background the full image)" if m.without_true_box == "keep" else
               "Annotated images with no box of their class are excluded (the authors' code keeps them)")
            + ". Counts per model: " + "; ".join(
                f"{k}: {r['images']} evaluated, {r.get('without_true_box_images', 0)} without a true-class box "
                f"({'kept' if r.get('without_true_box', 'keep') == 'keep' else 'excluded'}), "
                f"{r.get('excluded_not_annotated', 0)} without a box XML, "
                f"{r.get('excluded_model_lacks_class', 0)} of a class the model lacks, {r['skipped']} undecodable, "
                f"{r.get('boxes_swapped', 0)} inverted boxes swapped, {r.get('boxes_clipped', 0)} boxes clipped "
                "to the image" for k, r in masks.items()) + "."))
        blocks.append(Table(_mask_table(masks, 5), "Table 2 (top-5). " + MASKING_NOTE))
        blocks.append(Table(_mask_table(masks, 1), "Table 3 (top-1)."))
        name = _example(params, index, data_dir, out)
        if name:
            blocks.append(Figure(name, "Fig. 9b: an image, its foreground only and its background only, as the "
                                       "model sees them (after resize and centre crop)."))
        metrics["masking"] = {k: {f"{v}_top1": r[f"{v}_top1"] for v in VARIANTS} for k, r in masks.items()}
        for k, r in masks.items():
            if r.get("images"):
                findings.append(f"{k} ({r['kind']}): top-1 {percent_interval(r['full_top1'], r['images'])} on full "
                                f"images, {percent_interval(r['foreground_top1'], r['images'])} on the object alone, "
                                f"{percent_interval(r['background_top1'], r['images'])} on the background alone "
                                f"({r['images']} images; Tables 2 and 3).")
    if lows:
        lp = params.lowpass_eval
        blocks.append(Para(
            f"Low-pass filtering (Fig. 16): the paper gives no filter, so this is our documented choice: an "
            f"{lp.filter} circular 2-D FFT low-pass per channel on the [0, 1] pixels of the preprocessed crop, "
            "before normalisation, clamped back to [0, 1]. "
            + ("The cutoff is in cycles per image of the crop, the same image content for every model whatever "
               "its input size: as a fraction of each model's own Nyquist frequency, a 384 px ViT would keep "
               "about 1.7 times the cycles per image of a 224 px CNN at the same cutoff, which tilts the "
               "comparison toward the ViTs. " if lp.unit == "cycles_per_image" else
               "The cutoff is a fraction of each model's own Nyquist frequency (lowpass_eval.unit): models of "
               "different input sizes then keep different image content at the same cutoff (a 384 px model "
               "about 1.7 times the cycles per image of a 224 px one). ")
            + "Crops: " + ", ".join(f"{k} {'x'.join(map(str, r['crop']))} px" for k, r in lows.items() if "crop" in r)
            + ". The summary is the area under the accuracy curve over the cutoff range, divided by the clean "
            "accuracy (1 = no loss)."))
        cut = pd.DataFrame([{"model": k, "kind": r["kind"], "clean": r["clean_top1"],
                             **{f"{p['cutoff']:g}": p["top1"] for p in r["curve"]},
                             "AUC / clean": r["auc_normalized"]} for k, r in lows.items()])
        blocks.append(Table(cut, f"Top-1 (%) on the {lp.split} split at each {UNIT_LABELS[lp.unit]}."))
        _lowpass_plot(lows, out / "figures" / "lowpass.png")
        blocks.append(Figure("figures/lowpass.png", "Top-1 against the low-pass cutoff; ViTs solid, CNNs dashed, "
                                                    "chance dotted."))
        metrics["lowpass"] = {k: {"clean_top1": r["clean_top1"], "auc_normalized": r["auc_normalized"]}
                              for k, r in lows.items()}
    checks = []
    for k, r in masks.items():
        checks.append(f"{k}: background-only top-1 {r['background_top1']:.1f}% against chance "
                      f"{r['chance_top1']:.1f}%")
    for k, r in lows.items():
        low = min(r["curve"], key=lambda p: p["cutoff"])
        checks.append(f"{k}: top-1 {r['clean_top1']:.1f}% clean, {low['top1']:.1f}% at cutoff {low['cutoff']:g}")
    if params.prepare_data.source == "synthetic" and checks:
        blocks.append(Para("Designed effects of the synthetic data (backgrounds carry class evidence; textures are "
                           "high-frequency evidence): " + "; ".join(checks) + "."))
    return Section("Robustness: masking and low-pass filtering", blocks, findings)
