"""Thread sharing among concurrent vitviz processes (core.threads)."""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from vitviz.core import threads


def test_threads_for_a_setting():
    assert threads.threads_for("auto", 8, 1) == 8 and threads.threads_for("auto", 8, 3) == 2
    assert threads.threads_for("auto", 2, 5) == 1 and threads.threads_for(3, 2, 5) == 3


def test_live_workers_counts_running_pids_and_drops_dead_ones(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    for pid in (str(os.getpid()), str(os.getppid()), dead):
        (tmp_path / pid).touch()
    (tmp_path / "notes.txt").touch()
    assert threads.live_workers(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([str(os.getpid()), str(os.getppid())])


def test_auto_shares_the_cores_with_another_running_worker(tmp_path, monkeypatch):
    monkeypatch.setenv(threads.REGISTRY_ENV, str(tmp_path))
    monkeypatch.setattr(threads, "cores", lambda: 4)
    before = torch.get_num_threads()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / str(other.pid)).touch()          # a second vitviz process, as it registers itself
        assert threads.register("auto") == 2          # 4 cores, 2 workers
        other.kill()
        other.wait()
        assert threads.rebalance(force=True) == 4     # alone again
        with threads.fixed_threads(1):                # training: a fixed count, whatever else runs
            assert torch.get_num_threads() == 1 and threads.rebalance(force=True) == 1
        assert torch.get_num_threads() == 4
    finally:
        other.kill()
        threads.unregister()
        torch.set_num_threads(before)
    assert not (tmp_path / str(os.getpid())).exists()
