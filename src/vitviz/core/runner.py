"""Run an entry point with logging set up and bad input turned into a one-line error and exit code 2."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Callable

from vitviz.core.run_facts import write_run_facts
from vitviz.core.errors import USER_ERRORS

log = logging.getLogger("vitviz")


def model_stage_args(description: str, out_default: str) -> argparse.Namespace:
    """Arguments of a per-model stage script: the model key, --params, --data and --out (default with {key})."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("key", help="model key in params.yaml:models")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data", help="folder of the stage outputs (dataset/, models/, ...)")
    ap.add_argument("--out", default=None, help=f"default: {out_default.format(data='<data>', key='<key>')}")
    args = ap.parse_args()
    args.out = args.out or out_default.format(data=args.data, key=args.key)
    return args


def main_process() -> bool:
    """True in a single process, and on rank 0 under torchrun: the process that writes the outputs."""
    from vitviz.core.distributed import context
    return context().main


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with timestamps; quiet the chatty libraries."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("vitviz").setLevel(level)  # libraries (open_clip logs to the root logger) stay at WARNING


def run(main: Callable[[], dict | None], stage: str | None = None, runs_dir: str | Path = "runs") -> None:
    """Call `main`; a user error is logged as one message and exits with status 2.

    When `main` returns a dict of run facts (timings; its "key" names the model), they are written with the
    wall time to `<runs_dir>/facts/<stage>[@<key>].json` and the environment to `<runs_dir>/env/`, apart
    from the stage's outputs.
    """
    setup_logging()
    if stage and main_process():   # what killed runs left behind; the temporaries never sit inside outputs
        from vitviz.core.atomic import TMP_DIR, clean_tmp
        clean_tmp(Path(TMP_DIR))
    t0 = time.perf_counter()
    try:
        facts = main()
    except USER_ERRORS as exc:
        log.error("%s", exc)
        sys.exit(2)
    if stage and isinstance(facts, dict):
        key = facts.pop("key", None)
        write_run_facts(runs_dir, f"{stage}{'@' + key if key else ''}", time.perf_counter() - t0, facts)
