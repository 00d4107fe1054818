"""Stage optimize_features@<key>: activation maximisation of the selected features of one model."""
import os
from pathlib import Path

from vitviz.core.atomic import atomic_path
from vitviz.core.config import load_params
from vitviz.visualization.store import write_features
from vitviz.data.imagenet import read_index
from vitviz.core.runner import main_process, model_stage_args, run
from vitviz.visualization.selection import select_targets
from vitviz.visualization.optimize import model_recipe
from vitviz.visualization.checkpoint import file_digest, recipe_hash, visualize_resumable
from vitviz.core.distributed import local_device
from vitviz.models.store import load_model


def main() -> None:
    args = model_stage_args(__doc__, "{data}/features/{key}")
    params = load_params(args.params)
    cfg = params.optimize_features
    device = local_device(cfg.device)
    loaded = load_model(f"{args.data}/models/{args.key}", device, params.speed)
    sel = cfg.select
    index = read_index(f"{args.data}/dataset") if sel.rule == "top_mean" else None
    settings, explicit = model_recipe(cfg, args.key)
    targets = select_targets(loaded, sel.rule, list(sel.kinds), sel.layers, sel.per_layer, explicit, index,
                             sel.split, sel.limit, sel.seed, sel.attn_layers, device=device)
    # finished features are kept per recipe (outside data/, a cache: never an output), so a killed run resumes
    key = recipe_hash(settings, cfg.seed, args.key, file_digest(f"{args.data}/models/{args.key}/weights.safetensors"),
                      {"precision": params.speed.precision, "fused_attention": params.speed.fused_attention,
                       "device": device.type})
    folder = Path(os.environ.get("VITVIZ_CACHE", ".cache/vitviz")) / "features" / args.key / key
    results = visualize_resumable(loaded, targets, settings, folder, seed=cfg.seed, device=device)
    if not main_process():  # under torchrun, rank 0 writes
        return
    with atomic_path(args.out) as tmp:
        write_features(results, tmp, args.key, settings, {"rule": sel.rule, "split": sel.split, "limit": sel.limit})
    return {"key": args.key, "features": len(results),
            "seconds_per_feature": sum(r.seconds for r in results) / max(len(results), 1)}


if __name__ == "__main__":
    run(main, "optimize_features")
