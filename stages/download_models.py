"""Stage download_models@<key>: fetch or train one model into data/models/<key> and evaluate it."""
from vitviz.core.config import load_params
from vitviz.models.registry import check_models
from vitviz.data.imagenet import read_index
from vitviz.models.obtain import obtain_model
from vitviz.core.runner import model_stage_args, run
from vitviz.core.errors import ConfigError


def main() -> None:
    args = model_stage_args(__doc__, "{data}/models/{key}")
    params = load_params(args.params)
    if args.key not in params.models:
        raise ConfigError([f"models.{args.key}: no such model; have: {', '.join(params.models)}"], args.params)
    errors = check_models(params, [args.key])
    if errors:
        raise ConfigError(errors, args.params)
    metrics = obtain_model(params.models[args.key], args.key, read_index(f"{args.data}/dataset"), args.out,
                          params.download_models, params.speed)
    return {"key": args.key, "images_evaluated": metrics.get("images")}


if __name__ == "__main__":
    run(main, "download_models")
