"""Stage prepare_data: write the synthetic ImageNet (or index a real one) into data/dataset."""
from vitviz.core.atomic import atomic_path
from vitviz.core.runner import run
from vitviz.core.settings import read_sections
from vitviz.data.prepare import prepare_dataset
from vitviz.data.settings import PrepareDataConfig
from vitviz.pipeline.args import stage_args


def main() -> dict:
    args = stage_args(__doc__, "{data}/dataset", per_model=False)
    cfg = read_sections(args.params, {"prepare_data": PrepareDataConfig})["prepare_data"]
    with atomic_path(args.out) as tmp:
        prepare_dataset(cfg, tmp)
    return {}


if __name__ == "__main__":
    run(main, "prepare_data")
