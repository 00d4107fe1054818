"""Write files and folders so that a killed run never leaves a partial output behind.

Temporaries live outside the outputs: in `.vitviz-tmp/` beside the project's dvc.yaml (listed in .dvcignore and
.gitignore), else in the system temp folder when it is on the same filesystem, so that the final rename is atomic.
Each is named after the writing process; a later run removes those of processes that are gone.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

TMP_DIR = ".vitviz-tmp"


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


def tmp_root(path: str | Path) -> Path:
    """The folder that holds the temporaries for writing `path` (made if missing)."""
    parent = Path(path).parent.resolve()
    for d in (parent, *parent.parents):
        if (d / "dvc.yaml").is_file():
            root = d / TMP_DIR
            break
    else:
        sys_tmp = Path(tempfile.gettempdir()) / "vitviz-tmp"
        sys_tmp.mkdir(parents=True, exist_ok=True)
        root = sys_tmp if _same_fs(sys_tmp, parent) else parent / TMP_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_tmp(root: str | Path) -> int:
    """Remove the temporaries under `root` whose writing process is gone; return how many."""
    root = Path(root)
    n = 0
    if not root.is_dir():
        return 0
    for p in root.iterdir():
        pid = p.name.split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            n += 1
    return n


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path outside the outputs; on success it replaces `path` (file or folder) in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    root = tmp_root(path)
    clean_tmp(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}.{path.name}.", dir=root))
    target = tmp / path.name
    try:
        yield target
        if not target.exists():
            raise FileNotFoundError(f"nothing was written to {target}")
        old = None
        if path.exists() or path.is_symlink():
            old = tmp / ".old"
            os.replace(path, old)
        os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    """Atomically write pretty JSON."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def clean_stale(path: str | Path) -> None:
    """Remove the temporaries that a killed run of an older version left beside `path`."""
    path = Path(path)
    for p in path.parent.glob(f".{path.name}.*-*"):
        if p.name.startswith((f".{path.name}.tmp-", f".{path.name}.old-")):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
