"""Report section for the scores of the visualisations: claim I of the paper (FFN features are interpretable,
keys, queries and values are not) as measured numbers, with a verdict written from the numbers at hand."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vitviz.activations.kinds import KINDS  # noqa: E402
from vitviz.report.document import Bullets, Figure, Para, Section, Table  # noqa: E402
from vitviz.report.figures import save  # noqa: E402

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

SHOWN = {"mis_visualization": "MIS visualisation", "mis_natural": "MIS natural exemplars",
         "activation_ratio": "activation ratio", "selectivity_z": "selectivity z", "seed_margin": "seed margin"}


def _ci(row: pd.Series, col: str) -> str:
    m, lo, hi = row.get(col), row.get(f"{col}_lo"), row.get(f"{col}_hi")
    return "n/a" if m is None or m != m else f"{m:.2f} [{lo:.2f}, {hi:.2f}]"


def _table(agg: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in agg.iterrows():
        rows.append({"kind": r["kind"], "layer": "all" if r["layer"] < 0 else int(r["layer"]),
                     "features": int(r["features"]), **{name: _ci(r, col) for col, name in SHOWN.items()}})
    return pd.DataFrame(rows)


def _mis_plot(agg: pd.DataFrame, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for kind in KINDS:
        g = agg[(agg["kind"] == kind) & (agg["layer"] >= 0)].sort_values("layer")
        if g.empty:
            continue
        line, = ax.plot(g["layer"], g["mis_visualization"], marker="o", label=kind)
        ax.fill_between(g["layer"], g["mis_visualization_lo"], g["mis_visualization_hi"], alpha=0.15,
                        color=line.get_color())
        ax.plot(g["layer"], g["mis_natural"], ls="--", color=line.get_color(), alpha=0.6)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="block", ylabel="MIS", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, ncol=3)
    save(fig, path)


def verdict(scores: pd.DataFrame, agg: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> list[str]:
    """Sentences that the numbers support: FFN against each attention kind, visualisations against exemplars."""
    out = []
    kinds = agg[agg["layer"] < 0].set_index("kind")
    if "ffn" in kinds.index:
        f = kinds.loc["ffn"]
        for kind in KINDS[1:]:
            if kind not in kinds.index:
                continue
            o = kinds.loc[kind]
            if f["mis_visualization_lo"] > o["mis_visualization_hi"]:
                word = "higher than"
            elif f["mis_visualization_hi"] < o["mis_visualization_lo"]:
                word = "lower than"
            else:
                word = "not distinguishable (overlapping 95% intervals) from"
            out.append(f"Visualisation MIS of FFN features ({_ci(f, 'mis_visualization')}) is {word} that of "
                       f"{kind} ({_ci(o, 'mis_visualization')}).")
    d = (scores["mis_visualization"] - scores["mis_natural"]).to_numpy(dtype=float)
    d = d[~np.isnan(d)]
    if len(d):
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
        lo, hi = np.percentile(means, [2.5, 97.5])
        side = ("natural exemplars explain the features better than the visualisations" if hi < 0 else
                "the visualisations explain the features better than natural exemplars" if lo > 0 else
                "visualisations and natural exemplars are not distinguishable")
        out.append(f"Over all {len(d)} scored features, MIS(visualisation) - MIS(natural) = {d.mean():+.2f} "
                   f"[{lo:+.2f}, {hi:+.2f}]: {side}.")
    failed = int(scores["failed"].astype(bool).sum())
    out.append(f"{failed} of {len(scores)} visualisations are flagged failed (they do not beat their best natural "
               "image and reach less than the fail ratio of its objective).")
    return out


def scores_section(params: Params, data_dir: Path, out: Path, metrics: dict) -> Section | None:
    """Aggregates per layer and kind with 95% bootstrap intervals, MIS by depth, and the verdict (claim I)."""
    keys = [k for k in params.score_features.models if (data_dir / "scores" / k / "scores.csv").exists()]
    if not keys:
        return None
    cfg = params.score_features
    how = "the share of tasks answered correctly" if cfg.alpha is None else f"the mean of sigmoid({cfg.alpha} x evidence)"
    blocks = [Para(
        "Every visualisation is scored (our extension; the paper judges by eye). **Activation ratio**: the clean "
        "objective on the optimised image over the objective on the feature's best natural image of the split. "
        "**Selectivity**: the target channel's z-score among all channels of its site on the optimised image "
        "(largest possible: sqrt(channels - 1)). **MIS**: the machine 2-AFC of Zimmermann, Klindt & Brendel (2024): "
        f"{cfg.tasks} tasks per feature, queries one strongly and one weakly activating natural image (from the "
        f"top and bottom {cfg.quantile:.0%} of the split); references either the visualisations (maximised, and "
        f"minimised with the same recipe) or {cfg.k} natural exemplars per side; the participant is "
        f"`{cfg.similarity}` (cosine similarity of penultimate embeddings); MIS is {how}, 0.5 is chance. "
        "**Seed margin**: the similarity of two visualisations of a feature from different seeds minus the "
        "similarity to visualisations of other features of the same site. Intervals: 95% percentile bootstrap "
        "over features.")]
    metrics.setdefault("scores", {})
    for key in keys:
        base = data_dir / "scores" / key
        scores = pd.read_csv(base / "scores.csv", keep_default_na=True)
        agg = pd.read_csv(base / "aggregates.csv")
        meta = json.loads((base / "scores.json").read_text())
        blocks.append(Para(f"**{key}**: {meta['scored']} of {meta['visualised']} visualised features scored, "
                           f"{meta['images']} natural images of `{meta['split']}`."
                           + ("" if meta.get("seed_agreement", cfg.seed_agreement) else " Seed margin: not "
                              "computed (`score_features.seed_agreement: false`).")))
        blocks.append(Table(_table(agg[agg["layer"] < 0]), f"{key}: scores per kind, mean [95% interval]; dashed "
                                                            "lines in the plot are the natural-exemplar MIS."))
        blocks.append(Table(_table(agg[agg["layer"] >= 0]), f"{key}: scores per layer and kind."))
        name = f"figures/scores_{key}_mis_depth.png"
        _mis_plot(agg, out / name, f"{key}: MIS by depth")
        blocks.append(Figure(name, f"{key}: visualisation MIS by block, one line per kind (band: 95% interval); "
                                   "dashed: natural-exemplar MIS; dotted: chance."))
        blocks.append(Bullets(verdict(scores, agg, cfg.bootstrap, cfg.seed)))
        failed = scores[scores["failed"].astype(bool)]
        if len(failed):
            blocks.append(Table(failed[["site", "feature", "objective_visualization", "objective_natural_top1",
                                        "activation_ratio", "mis_visualization"]],
                                f"{key}: failed visualisations.", "{:.3f}"))
        kinds = agg[agg["layer"] < 0].set_index("kind")
        metrics["scores"][key] = {
            "mis_visualization": {k: float(v) for k, v in kinds["mis_visualization"].items()},
            "mis_natural": {k: float(v) for k, v in kinds["mis_natural"].items()},
            "failed": int(len(failed)), "scored": int(len(scores))}
    return Section("Scores of the visualizations (claim I, measured)", blocks)
