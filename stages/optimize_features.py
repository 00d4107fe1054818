"""Stage optimize_features@<key>: activation maximisation of the selected features of one model."""
from pathlib import Path

from vitviz.core.atomic import atomic_path
from vitviz.core.disk_cache import cache_dir
from vitviz.core.runner import main_process, run
from vitviz.pipeline.stage import model_stage
from vitviz.sae.store import attach_trained_saes
from vitviz.visualization.checkpoint import file_digest, recipe_hash, visualize_resumable
from vitviz.sae.settings import SAEConfig
from vitviz.visualization.selection import comparison_targets, select_targets
from vitviz.visualization.settings import OptimizeConfig, model_recipe
from vitviz.visualization.store import write_features


def main() -> dict | None:
    st = model_stage(__doc__, "{data}/features/{key}", "optimize_features", OptimizeConfig, {"sae": SAEConfig})
    args, cfg, device, loaded, index = st.args, st.cfg, st.device, st.loaded, st.index
    attach_trained_saes(loaded.model, f"{args.data}/sae/{args.key}", device)     # their latents are sites too
    sel, sae = cfg.select, st.params["sae"]
    settings, explicit = model_recipe(cfg, args.key)
    targets = select_targets(loaded, sel.rule, list(sel.kinds), sel.layers, sel.per_layer, explicit, index,
                             sel.split, sel.limit, sel.seed, sel.attn_layers, device=device)
    if sae.compare:   # neurons and latents of each SAE site, chosen alike
        extra = comparison_targets(loaded, list(sae.sites), sae.compare, sae.compare_rule, index, sel.split,
                                   sel.limit, sel.seed, device)
        targets += [t for t in extra if t not in targets]
    # finished features are kept per recipe (outside data/, a cache: never an output), so a killed run resumes
    speed = st.params["speed"]
    key = recipe_hash(settings, cfg.seed, args.key, file_digest(f"{args.data}/models/{args.key}/weights.safetensors"),
                      {"precision": speed.precision, "fused_attention": speed.fused_attention, "device": device.type,
                       "saes": {p.parent.name: file_digest(p) for p in
                                sorted(Path(args.data, "sae", args.key).glob("*/weights.safetensors"))}})
    folder = cache_dir() / "features" / args.key / key
    results = visualize_resumable(loaded, targets, settings, folder, seed=cfg.seed, device=device)
    if not main_process():  # under torchrun, rank 0 writes
        return None
    with atomic_path(args.out) as tmp:
        write_features(results, tmp, args.key, settings, {"rule": sel.rule, "split": sel.split, "limit": sel.limit})
    return {"key": args.key, "features": len(results),
            "seconds_per_feature": sum(r.seconds for r in results) / max(len(results), 1)}


if __name__ == "__main__":
    run(main, "optimize_features")
