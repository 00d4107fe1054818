"""Stage check_params: validate params.yaml before any stage command runs with its values.

DVC expands `${key}`, `${item}` and `${launcher}` into shell commands. Every stage depends on this stage's
output, so DVC runs this check first (on every `dvc repro`: always_changed) and stops on its failure, before
any command holding a bad value is run. Its output never changes, so a passing check re-runs nothing.
"""
import argparse

from vitviz.core.atomic import write_json
from vitviz.pipeline.args import PARAMS_CHECKED
from vitviz.pipeline.params import load_params
from vitviz.core.runner import run

def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/params_ok.json")
    args = ap.parse_args()
    params = load_params(args.params)
    write_json(args.out, PARAMS_CHECKED)
    return {"models": len(params.models)}


if __name__ == "__main__":
    run(main, "check_params")
