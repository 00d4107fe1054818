"""A DVC queue of two experiments run by one worker and by two, with `speed.threads: auto` (the cores shared among
the running vitviz stages) and with the threads fixed at the core count (every worker takes every core).

Each experiment retrains the smoke configuration's ViT with its own seed, so it re-runs that model's training and
every stage downstream of it. The wall time of each `dvc queue start` until the queue is empty is the figure;
the ratio two workers / one worker tells whether a second worker helps or thrashes. Run it alone on the machine.

    python benchmarks/bench_queue.py            # about 10 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sh(args: list[str], cwd: Path, env: dict, check: bool = True) -> str:
    r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r.stdout + r.stderr


def queue_seconds(repo: Path, env: dict, workers: int, threads: str, seeds: tuple[int, int]) -> float:
    """Wall seconds of a queue of two experiments (one per seed) started with `workers` workers."""
    for seed in seeds:
        sh(["dvc", "exp", "run", "--queue", "-S", f"models.vit_demo.train.seed={seed}", "-S",
            f"speed.threads={threads}"], repo, env)
    t0 = time.perf_counter()
    with open(repo.parent / f"queue-{workers}-{threads}.log", "w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", str(workers)], cwd=repo, env=env, stdout=log, stderr=log,
                       check=True)
    try:
        while True:
            status = sh(["dvc", "queue", "status"], repo, env)
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
    finally:
        sh(["dvc", "queue", "stop", "--kill"], repo, env, check=False)
    elapsed = time.perf_counter() - t0
    if status.count("Success") < 2 or "Failed" in status:
        raise SystemExit(f"queue failed:\n{status}")
    sh(["dvc", "queue", "remove", "--success"], repo, env, check=False)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/smoke.yaml", help="the params of the copy (default: smoke)")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    root = Path(tempfile.mkdtemp(prefix="bench_queue_"))
    repo = root / "repo"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(repo / "src"),
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    env.pop("OMP_NUM_THREADS", None)
    try:
        sh(["git", "clone", "-q", str(REPO), str(repo)], root, env)
        shutil.copy(REPO / args.config, repo / "params.yaml")
        sh(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "bench"], repo, env)
        sh(["dvc", "repro"], repo, env)      # the baseline every experiment starts from
        sh(["git", "add", "-A"], repo, env)
        sh(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "lock"], repo, env)
        rows = []
        for i, (workers, threads) in enumerate([(1, "auto"), (2, "auto"), (2, str(cores))]):
            s = queue_seconds(repo, env, workers, threads, (100 + 2 * i, 101 + 2 * i))
            rows.append({"workers": workers, "threads": threads, "seconds": round(s, 1)})
            print(f"{workers} worker(s), speed.threads {threads}: {s:.1f} s for two experiments", flush=True)
        one = rows[0]["seconds"]
        for r in rows[1:]:
            print(f"  {r['workers']} workers, threads {r['threads']}: {one / r['seconds']:.2f}x the speed of one worker")
        print(json.dumps({"cores": cores, "config": args.config, "runs": rows}))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
