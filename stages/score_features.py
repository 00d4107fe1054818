"""Stage score_features@<key>: activation ratio, selectivity, MIS and seed agreement of every visualised feature."""
from pathlib import Path

from PIL import Image

from vitviz.core.atomic import atomic_path, write_json
from vitviz.core.runner import main_process, run
from vitviz.activations.kinds import LATENT
from vitviz.models.settings import ModelEntry
from vitviz.sae.settings import SAEConfig
from vitviz.pipeline.stage import model_stage
from vitviz.sae.store import attach_trained_saes
from vitviz.scoring.aggregate import aggregate
from vitviz.scoring.score import read_images, score_features, select_scored
from vitviz.scoring.settings import ScoreConfig
from vitviz.scoring.similarity import load_similarity, refuse_circular
from vitviz.visualization.store import read_features, recipe_of


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/scores/{key}", "score_features", ScoreConfig,
                     {"models": dict[str, ModelEntry], "sae": SAEConfig})
    args, cfg, device, loaded = st.args, st.cfg, st.device, st.loaded
    attach_trained_saes(loaded.model, f"{args.data}/sae/{args.key}", device)     # their latents are sites too
    models = st.params["models"]
    entry = models.get(args.key)
    refuse_circular(cfg.similarity, args.key, entry.name if entry is not None and entry.source != "train" else None)
    sim = load_similarity(cfg.similarity, f"{args.data}/models", list(models), device, args.key,
                          runtime=loaded.runtime)
    features_dir = f"{args.data}/features/{args.key}"
    features, meta = read_features(features_dir)
    sae = st.params["sae"]
    matched = {name: sae.compare for site in sae.sites for name in (site, f"{site}{LATENT}")} \
        if args.key in sae.models else {}
    scored = select_scored(features, cfg.per_site, matched)
    result = score_features(loaded, features, read_images(features_dir, list(features["image"])), recipe_of(meta),
                            st.index, sim, cfg, device, scored)
    if not main_process():
        return None
    with atomic_path(args.out) as tmp:
        for sub, tag, imgs in (("images_min", "m", result.min_images), ("images_max", "s", result.more_images)):
            for name, ims in imgs.items():
                stem = Path(name).stem
                for j, im in enumerate(ims, start=1 if sub == "images_min" else 2):
                    path = tmp / sub / f"{stem}_{tag}{j}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(im).save(path)
        tmp.mkdir(parents=True, exist_ok=True)
        result.scores.to_csv(tmp / "scores.csv", index=False)
        result.tasks.to_csv(tmp / "tasks.csv", index=False)
        aggregate(result.scores, cfg.tasks).to_csv(tmp / "aggregates.csv", index=False)
        write_json(tmp / "scores.json", {"model": args.key, "similarity": cfg.similarity, "split": cfg.split,
                                         "images": result.images, "skipped": result.skipped, "tasks": cfg.tasks,
                                         "k": cfg.k, "k_visualization": cfg.k, "k_natural": cfg.k,
                                         "quantile": cfg.quantile, "alpha": cfg.alpha,
                                         "seed_agreement": cfg.seed_agreement or cfg.k > 1,
                                         "scored": len(result.scores),
                                         "visualised": len(features)})
    return {"key": args.key, "scored": len(result.scores), "visualised": len(features)}


if __name__ == "__main__":
    run(main, "score_features")
