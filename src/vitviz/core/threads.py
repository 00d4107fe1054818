"""How many intra-op threads a vitviz process uses: a fixed number, or (auto) the machine's cores shared out among
the vitviz processes running at the time, so that two stages side by side (a `dvc queue start -j 2`, two
experiments) do not each start one thread per core and thrash.

Each process that takes part registers itself as a file named by its pid in a shared folder; `auto` counts the
live ones, and long loops call `rebalance()`, which looks again at most every few seconds.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

import torch

from vitviz.core.atomic import pid_alive

log = logging.getLogger(__name__)

REGISTRY_ENV = "VITVIZ_WORKERS_DIR"
RECHECK_SECONDS = 5.0


def registry() -> Path:
    """The folder where running vitviz processes register (per user; VITVIZ_WORKERS_DIR overrides it)."""
    return Path(os.environ.get(REGISTRY_ENV) or Path(tempfile.gettempdir()) / f"vitviz-workers-{os.getuid()}")


def cores() -> int:
    """The cores this process may run on (at most OMP_NUM_THREADS, where it is set)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(n, int(cap))) if cap.isdigit() and int(cap) > 0 else n


def live_workers(folder: Path | None = None) -> int:
    """The registered vitviz processes that are still running (at least 1: this one); stale entries are removed."""
    folder = folder or registry()
    n = 0
    for f in folder.glob("*") if folder.is_dir() else []:
        if f.name.isdigit() and pid_alive(int(f.name)):
            n += 1
        else:
            with contextlib.suppress(OSError):
                f.unlink()
    return max(n, 1)


def threads_for(setting: int | str, n_cores: int, workers: int) -> int:
    """The thread count of a setting: itself when a number; for 'auto', the cores shared among the workers."""
    if setting != "auto":
        return int(setting)
    return max(1, n_cores // max(workers, 1))


class _Share:
    setting: int | str = "auto"
    registered: Path | None = None
    checked = 0.0


def register(setting: int | str = "auto") -> int:
    """Take part in the sharing with this setting ('auto' or a number) and apply it; the thread count set."""
    _Share.setting = setting
    if _Share.registered is not None and _Share.registered.parent != registry():
        unregister()             # the registry moved (VITVIZ_WORKERS_DIR changed): register there
    if _Share.registered is None:
        folder = registry()
        folder.mkdir(parents=True, exist_ok=True)
        _Share.registered = folder / str(os.getpid())
        _Share.registered.touch()
        atexit.register(unregister)
    return rebalance(force=True)


def unregister() -> None:
    """Leave the sharing (at exit)."""
    if _Share.registered is not None:
        with contextlib.suppress(OSError):
            _Share.registered.unlink()
        _Share.registered = None


def rebalance(force: bool = False) -> int:
    """Set this process's thread count from its setting and the live workers (at most every few seconds)."""
    now = time.monotonic()
    if _Share.registered is None or (not force and now - _Share.checked < RECHECK_SECONDS):
        return torch.get_num_threads()
    _Share.checked = now
    n = threads_for(_Share.setting, cores(), live_workers() if _Share.setting == "auto" else 1)
    if n != torch.get_num_threads():
        log.info("intra-op threads: %d (%s)", n, f"{cores()} cores shared by {live_workers()} vitviz processes"
                 if _Share.setting == "auto" else "speed.threads")
        torch.set_num_threads(n)
    return n


@contextlib.contextmanager
def fixed_threads(n: int) -> Iterator[None]:
    """Run a block on exactly `n` intra-op threads (results then do not depend on the machine), then restore."""
    before, setting = torch.get_num_threads(), _Share.setting
    _Share.setting = n
    torch.set_num_threads(n)
    try:
        yield
    finally:
        _Share.setting = setting
        torch.set_num_threads(before)
