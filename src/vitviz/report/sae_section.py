"""Report section "Neurons or dictionary features?" (ours): each SAE's quality, and its latents against the
neurons of the site it reads, on the same scores and images, with intervals and Holm-adjusted tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from vitviz.report.failed import failed_marks
from vitviz.activations.kinds import LATENT
from vitviz.exemplars.locality import top_share
from vitviz.exemplars.store import read_exemplars
from vitviz.report.document import Bullets, Figure, Para, Section, Table
from vitviz.report.figures import image_grid
from vitviz.scoring.aggregate import score_interval
from vitviz.stats.permutation import holm_family, unpaired_comparison
from vitviz.stats.verdicts import comparison_sentence, interval_text

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

MEASURES = {"mis_visualization": "2-AFC accuracy with visualisations", "mis_natural":
            "2-AFC accuracy with natural exemplars", "selectivity": "selectivity", "locality": "locality"}


def feature_locality(exemplars, site: str, features: list[int], fraction: float) -> list[float]:
    """Each feature's share of activation mass in the top `fraction` of patches on its top exemplar (NaN: no map)."""
    maps = exemplars.maps.get(site)
    if maps is None:
        return [float("nan")] * len(features)
    return [float(top_share(maps[f, 0], fraction)) for f in features]


def quality_table(metrics: dict) -> pd.DataFrame:
    """One row per SAE: its size, R^2, L0, dead and dense fractions, tokens, and top-1 clean against spliced."""
    return pd.DataFrame([{"site": m["site"], "latents": m["width"], "k": m["k"], "R²": round(m["r2"], 3),
                          "L0": round(m["l0"], 1), "dead": round(m["dead_fraction"], 3),
                          "dense": round(m["dense_fraction"], 3), "train tokens": m["train_tokens"],
                          "top-1 clean": m["top1_clean"], "top-1 spliced": m["top1_spliced"]}
                         for m in metrics["sites"].values()])


def sae_section(params: Params, data_dir: Path, out: Path, metrics: dict) -> Section | None:
    """The SAE quality tables, the matched comparison of latents with neurons per site, and the depth grid."""
    findings: list[str] = []      # one-line findings for the summary at the top of the report
    keys = [k for k in params.sae.models if (data_dir / "sae" / k / "metrics.json").exists()]
    if not keys:
        return None
    s = params.sae.train
    blocks = [Para(
        "Our extension. Since 2023 a model is often explained through the latents of a sparse autoencoder (SAE) "
        "trained on its activations, because single neurons tend to respond to several unrelated things. Each "
        f"SAE here reads one site: {s.expansion} x its width latents, "
        + (f"TopK with k = {s.k} per token" if s.sparsity == "topk" else
           f"BatchTopK with k = {s.k} per token on average")
        + ", an auxiliary loss that revives dead latents (AuxK), unit-norm decoder atoms; trained on the "
        f"{params.sae.split} split streamed through the model (about {s.tokens:,} tokens in whole batches, no "
        "activation cache) and "
        f"scored on {params.sae.eval_split}. Its latents are then features like any other: visualised with the "
        "same recipe (on the latent's pre-activation), mined, scored and browsed in the atlas. R² is the "
        "variance of the held-out tokens the reconstruction explains; L0 the active latents per token; dead: "
        "latents that never fire on the held-out tokens; dense: those that fire on more than 10% of them; the "
        "model's top-1 with the SAE's reconstruction spliced in at its site against the clean top-1 is the "
        "classifier's analogue of the loss recovered. Below, the latents are compared with the neurons of the "
        f"site the SAE reads, {params.sae.compare} of each, chosen alike (rule `{params.sae.compare_rule}`"
        + (": a seeded random sample of each" if params.sae.compare_rule == "random" else
           ": the highest mean activation, which among latents picks the densest") +
        ") and scored by the same procedure on the same images (each feature's 2-AFC queries drawn from its own "
        "activations). Selectivity is measured on the latents' pre-activations (before TopK), as visualisation "
        "maximises them: on the sparse codes, mostly zeros, any latent would look selective by construction. "
        "Locality is the share of activation mass in the top patches of the feature's top exemplar. A direction "
        "is stated only when a permutation test over features gives p < 0.05 after Holm's adjustment over the "
        "four measures of a site (the intervals of the differences are each at 95%, not adjusted).")]
    metrics.setdefault("sae", {})
    frac = params.mine_exemplars.locality_fraction
    for key in keys:
        m = json.loads((data_dir / "sae" / key / "metrics.json").read_text())
        blocks.append(Table(quality_table(m), f"{key}: the SAEs, on the held-out {params.sae.eval_split} tokens "
                                              "(top-1 in %)."))
        scores_csv = data_dir / "scores" / key / "scores.csv"
        scores = pd.read_csv(scores_csv) if scores_csv.exists() else None
        ex_dir = data_dir / "exemplars" / key
        exemplars = read_exemplars(ex_dir) if (ex_dir / "meta.json").exists() else None
        tasks = params.score_features.tasks
        metrics["sae"][key] = {site: {k: v for k, v in q.items() if k != "site"} for site, q in m["sites"].items()}
        for site in m["sites"]:
            if scores is None:
                continue
            groups = {"neurons": scores[scores["site"] == site].copy(),
                      "latents": scores[scores["site"] == f"{site}{LATENT}"].copy()}
            for name, g in groups.items():
                g["locality"] = feature_locality(exemplars, g["site"].iloc[0], g["feature"].astype(int).tolist(),
                                                 frac) if exemplars is not None and len(g) else []
            rows, tests = [], []
            for col, label in MEASURES.items():
                ivs = {name: score_interval(g[col].to_numpy(float), col, tasks) for name, g in groups.items()}
                rows.append({"measure": label, **{name: interval_text(ivs[name]) + (f" (n = {ivs[name].n})"
                                                  if ivs[name].enough else "") for name in groups}})
                tests.append(unpaired_comparison(groups["latents"][col], groups["neurons"][col],
                                                 seed=params.score_features.seed))
            tests = holm_family(tests)             # one family: the four measures of this site
            sentences = [comparison_sentence(c, f"SAE latents at {site}", f"neurons of {site}", label)
                         for c, label in zip(tests, MEASURES.values())]
            for c, col in zip(tests, MEASURES):
                metrics["sae"][key][site][f"{col}_latents_minus_neurons"] = {
                    "difference": c.difference, "p": c.p, "p_raw": c.p if c.p_raw is None else c.p_raw}
            blocks.append(Table(pd.DataFrame(rows), f"{key}, {site}: neurons against SAE latents, mean [95% "
                                                   "interval] over the scored features."))
            blocks.append(Bullets(sentences))
            findings.append(f"{key}, {site}: {sentences[0]}")
            grid = _grid(data_dir / "features" / key, site, scores)
            if grid:
                name = f"figures/sae_{key}_{site.replace('.', '_')}.jpg"
                image_grid(grid, out / name)
                blocks.append(Figure(name, f"{key}: visualisations of the neurons of {site} (top row) and of its "
                                           "SAE's latents (bottom row), chosen by the same rule, same recipe."))
    return Section("Neurons or dictionary features? (ours)", blocks, findings)


def _grid(features_dir: Path, site: str, scores: pd.DataFrame | None) -> list:
    """Rows (label, cells) of the visualisations of a site's neurons and of its SAE's latents, failed ones marked."""
    csv = features_dir / "features.csv"
    if not csv.exists():
        return []
    df = pd.read_csv(csv, keep_default_na=False)
    rows = []
    for label, name in (("neurons", site), ("SAE latents", f"{site}{LATENT}")):
        g = df[df["site"] == name]
        if len(g):
            g = failed_marks(g, scores)
            rows.append((label, [(f"F{int(r.feature)}" + (" FAILED" if r.failed else ""), features_dir / r.image)
                                 for r in g.itertuples()]))
    return rows if len(rows) == 2 else []
