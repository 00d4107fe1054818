"""Stage prepare_data: write the synthetic ImageNet (or index a real one) into data/dataset."""
import argparse

from vitviz.core.atomic import atomic_path
from vitviz.core.config import load_params
from vitviz.data.prepare import prepare_dataset
from vitviz.core.runner import run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/dataset")
    args = ap.parse_args()
    params = load_params(args.params)
    with atomic_path(args.out) as tmp:
        prepare_dataset(params.prepare_data, tmp)
    return {}


if __name__ == "__main__":
    run(main, "prepare_data")
