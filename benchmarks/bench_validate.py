"""`vitviz validate` wall time, cold (an empty disk cache: timm is imported and each architecture built on the meta
device) and warm (names and sites from the cache), beside two baselines run in the same loop: a bare Python start
and `import torch`. The goal is warm <= 2 s on the default params.

    python benchmarks/bench_validate.py [--params params.yaml] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def wall(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml", help="the params file to validate")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each command (medians are printed)")
    args = ap.parse_args()
    validate = [sys.executable, "-m", "vitviz.cli", "validate", "--params", args.params]
    rows: dict[str, list[float]] = {"python -c pass": [], "python -c 'import torch'": [], "validate, cold cache": [],
                                    "validate, warm cache": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "VITVIZ_CACHE": cache}
            rows["python -c pass"].append(wall([sys.executable, "-c", "pass"], env))
            rows["python -c 'import torch'"].append(wall([sys.executable, "-c", "import torch"], env))
            rows["validate, cold cache"].append(wall(validate, env))
            rows["validate, warm cache"].append(wall(validate, env))
    base = statistics.median(rows["python -c 'import torch'"])
    print(f"{'command':28s} {'median s':>9s} {'min s':>7s} {'/ import torch':>15s}")
    for name, t in rows.items():
        print(f"{name:28s} {statistics.median(t):9.2f} {min(t):7.2f} {statistics.median(t) / base:15.2f}")


if __name__ == "__main__":
    main()
