"""Stage download_models@<key>: fetch or train one model into data/models/<key> and evaluate it."""
import argparse

from vitviz.config import load_params
from vitviz.imagenet import read_index
from vitviz.materialize import materialize
from vitviz.runner import run
from vitviz.schema import ConfigError


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("key", help="model key in params.yaml:models")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data/dataset")
    ap.add_argument("--out", default=None, help="default: data/models/<key>")
    args = ap.parse_args()
    params = load_params(args.params)
    if args.key not in params.models:
        raise ConfigError([f"models.{args.key}: no such model; have: {', '.join(params.models)}"], args.params)
    materialize(params.models[args.key], args.key, read_index(args.data), args.out or f"data/models/{args.key}",
                params.download_models)


if __name__ == "__main__":
    run(main)
