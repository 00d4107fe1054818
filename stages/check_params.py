"""Stage check_params: validate params.yaml before any stage command runs with its values.

DVC expands `${key}`, `${item}` and `${launcher}` into shell commands. Every stage depends on this stage's
output, so DVC runs this check first (on every `dvc repro`: always_changed) and stops on its failure, before
any command holding a bad value is run. Its output never changes, so a passing check re-runs nothing.
It checks what `vitviz validate` checks: the schema, model names and tags, and each model's sites.

It also makes the folders that foreach stages write into (one subfolder per model) and that other stages depend
on as a whole: a configuration whose list for one of them is empty (say `score_features.models: []`) still has
the folder, empty, so the stages that read it find no model instead of a missing dependency.
"""
import argparse
import logging
from pathlib import Path

from vitviz.core.atomic import write_json
from vitviz.core.errors import ConfigError
from vitviz.core.runner import run
from vitviz.pipeline.args import PARAMS_CHECKED
from vitviz.pipeline.validate import validate

log = logging.getLogger("vitviz")

# the outputs of foreach stages, data/<folder>/<key>, whose parent is a dep of another stage (tests/test_dvc_graph.py)
FOREACH_FOLDERS = ("models", "features", "exemplars", "mask_eval", "lowpass_eval", "token_mixing", "appendix_f",
                   "scores", "sae")


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    ap.add_argument("--out", default="data/params_ok.json", help="the marker every stage depends on")
    args = ap.parse_args()
    found = validate(args.params)
    for note in found.notes:
        log.warning("%s", note)
    if found.errors:
        raise ConfigError(found.errors, args.params)
    for folder in FOREACH_FOLDERS:
        (Path(args.out).parent / folder).mkdir(parents=True, exist_ok=True)
    write_json(args.out, PARAMS_CHECKED)
    return {"models": len(found.params.models)}


if __name__ == "__main__":
    run(main, "check_params")
