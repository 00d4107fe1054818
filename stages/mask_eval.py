"""Stage mask_eval@<key>: accuracy on full, foreground-only and background-only images (Tables 2 and 3)."""
from vitviz.atomic import write_json
from vitviz.config import load_params
from vitviz.imagenet import read_index
from vitviz.masking import mask_eval
from vitviz.runner import model_stage_args, run
from vitviz.visualize import pick_device
from vitviz.zoo import load_model


def main() -> None:
    args = model_stage_args(__doc__, "{data}/mask_eval/{key}.json")
    cfg = load_params(args.params).mask_eval
    device = pick_device(cfg.device)
    loaded = load_model(f"{args.data}/models/{args.key}", device)
    result = mask_eval(loaded, read_index(f"{args.data}/dataset"), cfg.split, cfg.fill, cfg.limit, cfg.batch_size,
                       device)
    write_json(args.out, {"model": args.key, "kind": loaded.spec.kind, **result})


if __name__ == "__main__":
    run(main)
