"""Run an entry point with logging set up and bad input turned into a one-line error and exit code 2."""
from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from vitviz.core.run_facts import write_run_facts
from vitviz.core.errors import USER_ERRORS

log = logging.getLogger("vitviz")


def main_process() -> bool:
    """True in a single process, and on rank 0 under torchrun: the process that writes the outputs."""
    from vitviz.core.distributed import context
    return context().main


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with timestamps; quiet the chatty libraries."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("vitviz").setLevel(level)  # libraries (open_clip logs to the root logger) stay at WARNING


AUDIT_ENV = "VITVIZ_AUDIT_READS"


def _opened_for_reading(mode, flags) -> bool:
    if isinstance(mode, str):
        return not any(c in mode for c in "wax+")
    return isinstance(flags, int) and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)


def audit_reads(folder: str | Path) -> None:
    """Record every file this process opens for reading, written at exit as `<folder>/<pid>.json` with the command
    line (the DVC graph test checks the reads against each stage's declared deps)."""
    reads: set[str] = set()

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and _opened_for_reading(*args[1:3]):
            reads.add(os.path.abspath(os.fsdecode(args[0])))

    def write() -> None:
        out = Path(folder) / f"{os.getpid()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "reads": sorted(reads)}))

    sys.addaudithook(hook)
    atexit.register(write)


def run(main: Callable[[], dict | None], stage: str | None = None, runs_dir: str | Path = "runs") -> None:
    """Call `main`; a user error is logged as one message and exits with status 2.

    When `main` returns a dict of run facts (timings; its "key" names the model), they are written with the
    wall time to `<runs_dir>/facts/<stage>[@<key>].json` and the environment to `<runs_dir>/env/`, apart
    from the stage's outputs.
    """
    setup_logging()
    if stage and os.environ.get(AUDIT_ENV):
        audit_reads(os.environ[AUDIT_ENV])
    if stage:
        from vitviz.core.threads import register
        register("auto")   # the stage's speed.threads, where it reads that section, replaces it
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
