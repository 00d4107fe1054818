"""The `vitviz` command line."""
from __future__ import annotations

import argparse
import logging

from .runner import run

log = logging.getLogger("vitviz")


def _validate(args: argparse.Namespace) -> None:
    from .config import load_params
    p = load_params(args.params)
    log.info("%s is valid: %d model(s): %s", args.params, len(p.models), ", ".join(p.models))


def _synth(args: argparse.Namespace) -> None:
    from .atomic import atomic_path
    from .config import load_params
    from .prepare import prepare_dataset
    cfg = load_params(args.params).prepare_data
    cfg.source = "synthetic"
    with atomic_path(args.out) as tmp:
        prepare_dataset(cfg, tmp)
    log.info("synthetic ImageNet and its index written to %s", args.out)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `vitviz` console script."""
    ap = argparse.ArgumentParser(prog="vitviz", description="What do vision transformers learn?")
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check a params file; exit 2 with one line per bad key")
    v.add_argument("params", nargs="?", default="params.yaml")
    v.set_defaults(fn=_validate)
    s = sub.add_parser("synth", help="write the synthetic ImageNet of a params file, with its index, to a folder")
    s.add_argument("out")
    s.add_argument("--params", default="params.yaml")
    s.set_defaults(fn=_synth)
    args = ap.parse_args(argv)
    run(lambda: args.fn(args))


if __name__ == "__main__":
    main()
