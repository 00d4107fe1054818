"""Stage atlas@<key>: the static feature atlas of one model (every mined feature, its evidence, the scores of its
visualisations where scored) into atlas/<key>."""
from vitviz.atlas.build import build_atlas
from vitviz.atlas.settings import AtlasConfig
from vitviz.core.atomic import atomic_path
from vitviz.core.runner import run
from vitviz.core.settings import read_sections
from vitviz.data.imagenet import read_index
from vitviz.models.spec import ModelSpec
from vitviz.pipeline.args import stage_args


def main() -> dict:
    args = stage_args(__doc__, "atlas/{key}")
    cfg = read_sections(args.params, {"atlas": AtlasConfig})["atlas"]
    with atomic_path(args.out) as tmp:
        ov = build_atlas(tmp, ModelSpec.read(f"{args.data}/models/{args.key}"), f"{args.data}/exemplars/{args.key}",
                         f"{args.data}/features/{args.key}", read_index(f"{args.data}/dataset"), cfg,
                         f"{args.data}/scores/{args.key}")
    return {"key": args.key, "features": ov["features"], "visualized": ov["visualized"], "thumbs": ov["thumbs"],
            "bytes_per_feature": ov["bytes_per_feature"]}


if __name__ == "__main__":
    run(main, "atlas")
