"""Facts of one run (timings, host, library versions), kept apart from the results so that these stay
byte-identical from run to run."""
from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from vitviz.core.atomic import write_json

LIBRARIES = ("torch", "timm", "open_clip_torch", "torchvision", "numpy", "pillow", "vitviz")


def environment() -> dict[str, Any]:
    """Host, Python and the versions of the libraries that shape the results."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"host": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0],
            "git_revision": git_revision(), "versions": versions}


def git_revision(cwd: str | Path = ".") -> str:
    """The current git commit (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_run_facts(runs_dir: str | Path, name: str, seconds: float, facts: dict[str, Any] | None = None) -> dict:
    """Write a run's numbers (its wall time and `facts`) to `<runs_dir>/facts/<name>.json` and its environment
    to `<runs_dir>/env/<name>.json` (so that `dvc metrics show runs/facts` lists numbers, not host names)."""
    data = json.loads(json.dumps({"seconds": round(seconds, 3), **(facts or {})}, default=str))
    write_json(Path(runs_dir) / "facts" / f"{name}.json", data)
    write_json(Path(runs_dir) / "env" / f"{name}.json", environment())
    return data
