"""Stage atlas@<key>: the static feature atlas of one model (every mined feature, its evidence) into atlas/<key>."""
from vitviz.atlas.build import build_atlas
from vitviz.atlas.export import AtlasOptions
from vitviz.core.atomic import atomic_path
from vitviz.core.model_stage import model_stage
from vitviz.core.config import load_params
from vitviz.core.runner import main_process, run


def main() -> None:
    args, cfg, device, loaded, index = model_stage(__doc__, "atlas/{key}", "atlas")
    params = load_params(args.params)
    opts = AtlasOptions(thumb_size=cfg.thumb_size, thumb_quality=cfg.thumb_quality, related=cfg.related,
                        shard_features=cfg.shard_features)
    if not main_process():
        return
    with atomic_path(args.out) as tmp:
        ov = build_atlas(tmp, loaded, f"{args.data}/exemplars/{args.key}", f"{args.data}/features/{args.key}",
                         index, opts, params.mine_exemplars.limit, cfg.bins, cfg.batch_size, str(device))
    return {"key": args.key, "features": ov["features"], "visualized": ov["visualized"], "thumbs": ov["thumbs"],
            "bytes_per_feature": ov["bytes_per_feature"]}


if __name__ == "__main__":
    run(main, "atlas")
