"""Stage download_models@<key>: download (or, for the demo models, train) one model into data/models/<key>, reload
it offline and evaluate it."""
from vitviz.core.errors import ConfigError
from vitviz.core.runner import run
from vitviz.core.runtime import Runtime
from vitviz.data.imagenet import read_index
from vitviz.models.settings import DownloadConfig, ModelEntry
from vitviz.pipeline.download_models import download_model
from vitviz.pipeline.args import stage_args
from vitviz.pipeline.stage import stage_sections


def main() -> dict:
    args = stage_args(__doc__, "{data}/models/{key}")
    p = stage_sections(args.params, {"models": dict[str, ModelEntry], "download_models": DownloadConfig,
                                     "speed": Runtime})
    if args.key not in p["models"]:
        raise ConfigError([f"models.{args.key}: no such model; have: {', '.join(p['models'])}"], args.params)
    entry = p["models"][args.key]      # its name and tag were checked against its library by check_params
    metrics = download_model(entry, args.key, read_index(f"{args.data}/dataset"), args.out, p["download_models"],
                             p["speed"])
    return {"key": args.key, "images_evaluated": metrics.get("images")}


if __name__ == "__main__":
    run(main, "download_models")
