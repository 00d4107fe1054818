"""Report section for the scores of the visualisations: claim I of the paper (FFN features are interpretable,
keys, queries and values are not) as measured numbers, with a verdict written from the numbers at hand."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vitviz.visualization.quality import FAILED_RULE
from vitviz.activations.kinds import KINDS, PAPER_KINDS  # noqa: E402
from vitviz.report.document import Bullets, Figure, Para, Section, Table  # noqa: E402
from vitviz.report.figures import save  # noqa: E402
from vitviz.stats.intervals import LEVEL, MIN_FEATURES, Interval  # noqa: E402
from vitviz.stats.permutation import Comparison, holm_family, paired_comparison, unpaired_comparison  # noqa: E402
from vitviz.stats.verdicts import ALPHA, comparison_sentence, interval_text  # noqa: E402

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

SHOWN = {"mis_visualization": "2-AFC, visualisations", "mis_natural": "2-AFC, natural exemplars",
         "activation_ratio": "activation ratio", "selectivity": "selectivity", "seed_margin": "seed margin"}


def _ci(row: pd.Series, col: str) -> str:
    n = row.get(f"{col}_n")
    iv = Interval(row[col], row[f"{col}_lo"], row[f"{col}_hi"], 0 if n != n else int(n), LEVEL)
    return interval_text(iv, mean_when_few=True)


def _table(agg: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in agg.iterrows():
        rows.append({"kind": r["kind"], "layer": "all" if r["layer"] < 0 else int(r["layer"]),
                     "features": int(r["features"]), **{name: _ci(r, col) for col, name in SHOWN.items() if col in r}})
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
    ax.set(xlabel="block", ylabel="2-AFC accuracy", ylim=(0, 1.02), title=title)
    ax.legend(fontsize=7, ncol=3)
    save(fig, path)


def verdict(scores: pd.DataFrame, k: int, seed: int = 0) -> list[tuple[Comparison, str]]:
    """The section's tests (Holm-adjusted as one family) with their sentences: FFN against each attention kind (a
    permutation test over features), and the visualisations against natural exemplars on the same features (a
    sign-flip test, last); hedged where the test does not support a direction."""
    kinds = [k_ for k_ in KINDS if k_ in set(scores["kind"]) and k_.startswith("attn")]
    ffn = scores[scores["kind"] == "ffn"]["mis_visualization"]
    tests = [(unpaired_comparison(ffn, scores[scores["kind"] == kind]["mis_visualization"], seed=seed),
              "FFN features", f"{kind} features", "the 2-AFC accuracy with visualisations") for kind in kinds]
    tests.append((paired_comparison(scores["mis_visualization"], scores["mis_natural"], seed=seed),
                  f"visualisations ({k} per side)", f"natural exemplars ({k} per side)",
                  "the 2-AFC accuracy over every scored feature"))
    adjusted = holm_family([t[0] for t in tests])          # one family: the verdicts of this section
    return [(c, comparison_sentence(c, a, b, m)) for c, (_, a, b, m) in zip(adjusted, tests)]


def failed_sentence(scores: pd.DataFrame) -> str:
    """How many scored visualisations are marked failed, and why."""
    failed = int(scores["failed"].astype(bool).sum())
    flat = int(scores["flat_or_black"].astype(bool).sum()) if "flat_or_black" in scores else 0
    return (f"{failed} of {len(scores)} scored visualisations are marked failed ({flat} flat or black; the others "
            "do not beat their best natural image).")


def scores_section(params: Params, data_dir: Path, out: Path, metrics: dict) -> Section | None:
    """Aggregates per layer and kind with intervals of measured coverage, the 2-AFC by depth, and the verdicts
    (claim I) written from permutation tests."""
    findings: list[str] = []      # one-line findings for the summary at the top of the report
    keys = [k for k in params.score_features.models if (data_dir / "scores" / k / "scores.csv").exists()]
    if not keys:
        return None
    cfg = params.score_features
    how = "the share of tasks answered correctly" if cfg.alpha is None else f"the mean of sigmoid({cfg.alpha} x evidence)"
    blocks = [Para(
        "Every visualisation is scored (our extension; the paper judges by eye). **Activation ratio**: the clean "
        "objective on the optimised image over the objective on the feature's best natural image of the split. "
        "**Selectivity**: the target channel's z-score among all channels of its site on the optimised image, "
        "divided by its largest possible value sqrt(channels - 1), so that sites of different widths compare "
        "(1: only the target channel responds). **2-AFC accuracy**: the machine two-alternative forced choice "
        "behind the Machine Interpretability Score of Zimmermann, Klindt & Brendel (2024), with a different "
        f"participant: `{cfg.similarity}` (cosine similarity of its embeddings), not the DreamSim model of the "
        "published MIS, so the numbers are not comparable with published MIS values. Per feature, "
        f"{cfg.tasks} tasks: a strongly and a weakly activating query image (from the top and bottom "
        f"{cfg.quantile:.0%} of the split) matched against references, {cfg.k} per side in both conditions: "
        f"{cfg.k} maximising visualisations beside the strong query and {cfg.k} minimising ones (same recipe, "
        f"each from its own seed) beside the weak one, or {cfg.k} natural exemplars from the top and {cfg.k} from "
        f"the bottom of the split; the accuracy is {how}, 0.5 is chance. **Seed margin**: the similarity of two "
        "visualisations of a feature from different seeds minus the similarity to visualisations of other features "
        "of the same site. Intervals: 95%, over features, by methods whose coverage was measured by simulation "
        "(Wilson intervals with a design effect for the 2-AFC accuracies: 0.93-1.00 from 3 features on; "
        "skewness-corrected t intervals for the others: 0.93-0.96 for near-symmetric or mildly skewed scores from "
        "3 features on, but 0.90-0.94 for strongly skewed ones; `benchmarks/stats_coverage.py`); below "
        f"{MIN_FEATURES} features no interval is printed. A "
        "direction is stated only when a permutation test over features gives p < 0.05 after Holm's adjustment "
        "over the verdicts of the section (the intervals of the differences are each at 95%, not adjusted). "
        f"{FAILED_RULE}.")]
    metrics.setdefault("scores", {})
    for key in keys:
        base = data_dir / "scores" / key
        every = pd.read_csv(base / "scores.csv", keep_default_na=True)
        scores = every[every["kind"].isin(PAPER_KINDS)]      # claim I is about the paper's kinds
        agg = pd.read_csv(base / "aggregates.csv")
        agg = agg[agg["kind"].isin(PAPER_KINDS)]
        meta = json.loads((base / "scores.json").read_text())
        ours = len(every) - len(scores)
        blocks.append(Para(f"**{key}**: {meta['scored']} of {meta['visualised']} visualised features scored"
                           + (f" ({ours} of them residual-stream neurons and SAE latents, our extension, compared in "
                              "the section 'Neurons or dictionary features?' and left out here)" if ours else "")
                           + f", "
                           f"{meta['images']} natural images of `{meta['split']}`; K = {meta['k_visualization']} "
                           f"visualisations and K = {meta['k_natural']} natural exemplars per side."
                           + ("" if meta.get("seed_agreement") else " Seed margin: not computed (K = 1 and "
                              "`score_features.seed_agreement: false`).")))
        blocks.append(Table(_table(agg[agg["layer"] < 0]), f"{key}: scores per kind, mean [95% interval]; dashed "
                                                            "lines in the plot are the natural-exemplar accuracy."))
        blocks.append(Table(_table(agg[agg["layer"] >= 0]), f"{key}: scores per layer and kind."))
        name = f"figures/scores_{key}_mis_depth.png"
        _mis_plot(agg, out / name, f"{key}: 2-AFC accuracy by depth")
        blocks.append(Figure(name, f"{key}: 2-AFC accuracy with visualisations by block, one line per kind (band: "
                                   "95% interval where there are enough features); dashed: with natural "
                                   "exemplars; dotted: chance."))
        tests = verdict(scores, meta["k_visualization"], cfg.seed)
        blocks.append(Bullets([s for _, s in tests] + [failed_sentence(scores)]))
        few = [s for c, s in tests if not c.enough or c.min_p >= ALPHA]     # no verdict possible at these n
        for sentence in [s for _, s in tests if s not in few]:
            findings.append(f"{key}: {sentence}")
        if few:
            findings.append(f"{key}: {len(few)} comparison{'s' if len(few) > 1 else ''} could not be tested: too "
                            "few scored features (see the section).")
        failed = scores[scores["failed"].astype(bool)]
        if len(failed):
            cols = ["site", "feature", *(["flat_or_black"] if "flat_or_black" in failed else []),
                    "objective_visualization", "objective_natural_top1", "activation_ratio", "mis_visualization"]
            blocks.append(Table(failed[cols],
                                f"{key}: failed visualisations.", "{:.3f}"))
        kinds = agg[agg["layer"] < 0].set_index("kind")
        gap = tests[-1][0]                                      # visualisations against natural exemplars
        metrics["scores"][key] = {
            "mis_visualization": {k: float(v) for k, v in kinds["mis_visualization"].items()},
            "mis_natural": {k: float(v) for k, v in kinds["mis_natural"].items()},
            "visualization_minus_natural": {"difference": gap.difference, "lo": gap.lo, "hi": gap.hi, "p": gap.p,
                                            "p_raw": gap.p if gap.p_raw is None else gap.p_raw},
            "failed": int(len(failed)), "scored": int(len(scores))}
    return Section("Scores of the visualizations (claim I, measured)", blocks, findings)
