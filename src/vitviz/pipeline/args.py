"""The command line of a stage script, and its check that check_params ran first."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vitviz.core.errors import ConfigError


def stage_args(description: str, out_default: str, per_model: bool = True) -> argparse.Namespace:
    """Arguments of a stage script: the model key (per-model stages), --params, --data and --out (its default may
    hold {data} and {key})."""
    ap = argparse.ArgumentParser(description=description)
    if per_model:
        ap.add_argument("key", help="model key in params.yaml:models")
    ap.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    ap.add_argument("--data", default="data", help="folder of the stage outputs (dataset/, models/, ...)")
    ap.add_argument("--out", default=None, help=f"default: {out_default.format(data='<data>', key='<key>')}")
    args = ap.parse_args()
    args.out = args.out or out_default.format(data=args.data, key=getattr(args, "key", ""))
    require_checked_params(args.data)
    return args


PARAMS_CHECKED = {"params": "valid"}   # what the check_params stage writes (constant: it passes or stops the run)


def require_checked_params(data: str | Path) -> None:
    """Stop unless the check_params stage passed (its marker, `<data>/params_ok.json`, which every stage depends on)."""
    marker = Path(data) / "params_ok.json"
    try:
        ok = json.loads(marker.read_text()) == PARAMS_CHECKED
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise ConfigError([f"{marker}: missing; the params were not checked: run `dvc repro` (its check_params "
                           "stage runs first), or `python stages/check_params.py`"], "stage")
