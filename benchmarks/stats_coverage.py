"""Coverage of the 95% intervals of vitviz.stats by simulation (not speed: the numbers behind MIN_FEATURES).

Features are drawn from a population: true per-feature accuracy p ~ Beta(mean * c, (1 - mean) * c), each
scored on T = 20 binary tasks (the machine 2-AFC), or continuous per-feature values (normal, log-normal). A
method covers when its interval holds the population mean. Methods: `t` (vitviz.stats.intervals.t_bounds),
`wilson` (wilson_bounds, the default for accuracies), `two-stage` (percentile bootstrap over features then
tasks; for binary outcomes the tasks of a feature with k of T correct resample as Binomial(T, k / T), the same
distribution as drawing T of its outcomes with replacement), `old` (the report's former feature-only
percentile bootstrap). Continuous values and paired differences: `t` and `Hall` (hall_bounds, Student t with
Hall's skewness correction, the default of mean_interval and paired_comparison); unpaired: Welch's t.
Appendix F: the per-feature distance from y = 1 - x of curves y = 1 - x^g, g log-normal, with Hall's interval.

    OMP_NUM_THREADS=1 python benchmarks/stats_coverage.py --runs 1000
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from vitviz.stats.intervals import hall_bounds, t_bounds, wilson_bounds
from vitviz.stats.permutation import welch_bounds

NS = (2, 3, 4, 5, 6, 8, 10, 20, 50)


def covers(lo, hi, truth) -> float:
    return float(np.mean((lo <= truth) & (truth <= hi)))


def percentile(boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.quantile(boot, 0.025, axis=1), np.quantile(boot, 0.975, axis=1)


def accuracy_table(rng, runs: int, tasks: int, means, conc: float, n_boot: int) -> None:
    print(f"\nMean of per-feature accuracies, T = {tasks} tasks, p ~ Beta(mean c, (1 - mean) c), c = {conc:g}; "
          f"{runs} runs per cell; coverage of the 95% interval")
    print("| mean | method | " + " | ".join(f"n={n}" for n in NS) + " |")
    print("|---|---|" + "---|" * len(NS))
    for mean in means:
        cells = {m: [] for m in ("t", "wilson", "two-stage", "old")}
        for n in NS:
            p = rng.beta(mean * conc, (1 - mean) * conc, size=(runs, n))
            x = rng.binomial(tasks, p) / tasks
            _, lo, hi = t_bounds(x)
            cells["t"].append(covers(lo, hi, mean))
            _, lo, hi = wilson_bounds(x, tasks)
            cells["wilson"].append(covers(lo, hi, mean))
            f = rng.integers(0, n, size=(runs, n_boot, n))
            xs = np.take_along_axis(np.broadcast_to(x[:, None, :], f.shape), f, 2)
            cells["old"].append(covers(*percentile(xs.mean(2)), mean))
            cells["two-stage"].append(covers(*percentile((rng.binomial(tasks, xs) / tasks).mean(2)), mean))
        for m, c in cells.items():
            print(f"| {mean} | {m} | " + " | ".join(f"{v:.3f}" for v in c) + " |")


def continuous_table(rng, runs: int) -> None:
    print(f"\nMean of continuous per-feature values; {runs} runs per cell; t / Hall (skewness-corrected t, the "
          "default of mean_interval)")
    print("| population | " + " | ".join(f"n={n}" for n in NS) + " |")
    print("|---|" + "---|" * len(NS))
    pops = {"normal(1, 0.3)": (lambda s: rng.normal(1, 0.3, s), 1.0),
            "lognormal(0, 0.2)": (lambda s: rng.lognormal(0, 0.2, s), np.exp(0.02)),
            "lognormal(0, 0.6)": (lambda s: rng.lognormal(0, 0.6, s), np.exp(0.18))}
    for name, (draw, truth) in pops.items():
        cells = []
        for n in NS:
            v = draw((runs, n))
            cells.append(f"{covers(*t_bounds(v)[1:], truth):.3f} / {covers(*hall_bounds(v)[1:], truth):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def difference_table(rng, runs: int, tasks: int, conc: float) -> None:
    print(f"\nDifferences of mean accuracies (T = {tasks}, c = {conc:g}); {runs} runs per cell")
    print("| comparison | " + " | ".join(f"n={n}" for n in NS) + " |")
    print("|---|" + "---|" * len(NS))
    for ma, mb in ((0.6, 0.6), (0.8, 0.6), (0.9, 0.7)):
        row = []
        for n in NS:   # paired: the two conditions of one feature share a latent quality (correlated p)
            z = rng.normal(size=(runs, n))
            pa = 1 / (1 + np.exp(-(np.log(ma / (1 - ma)) + 0.8 * z + 0.4 * rng.normal(size=z.shape))))
            pb = 1 / (1 + np.exp(-(np.log(mb / (1 - mb)) + 0.8 * z + 0.4 * rng.normal(size=z.shape))))
            truth = mean_logistic(ma, mb)
            d = rng.binomial(tasks, pa) / tasks - rng.binomial(tasks, pb) / tasks
            row.append(covers(*hall_bounds(d)[1:], truth))
        print(f"| paired Hall t, logit means {ma} vs {mb} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    for ma, mb in ((0.6, 0.6), (0.8, 0.6), (0.9, 0.5)):
        row = []
        for n in NS:   # group b twice the size of group a
            a = rng.binomial(tasks, rng.beta(ma * conc, (1 - ma) * conc, size=(runs, n))) / tasks
            b = rng.binomial(tasks, rng.beta(mb * conc, (1 - mb) * conc, size=(runs, 2 * n))) / tasks
            row.append(covers(*welch_bounds(a, b)[1:], ma - mb))
        print(f"| unpaired Welch, {ma} (n) vs {mb} (2n) | " + " | ".join(f"{v:.3f}" for v in row) + " |")


def curve_table(rng, runs: int) -> None:
    """Appendix F: per-feature curves y = 1 - x^g (g ~ lognormal(0, s): g = 1 is proportional loss, g >> 1 a
    step near x = 1, g << 1 a drop at the first patches) plus noise; the mean distance from 1 - x over features
    and its t interval (vitviz.stats.curves.block_curves)."""
    x = np.linspace(0, 1, 11)
    print(f"\nAppendix F: mean distance from y = 1 - x over features; {runs} runs per cell; t / Hall")
    print("| curves | truth | " + " | ".join(f"n={n}" for n in NS) + " |")
    print("|---|---|" + "---|" * len(NS))
    for s in (0.3, 0.6, 1.0):
        def draw(shape):
            g = rng.lognormal(0, s, shape)[..., None]
            y = 1 - x ** g + rng.normal(0, 0.03, shape + (len(x),)) * (x > 0)
            return np.abs(y - (1 - x)).mean(-1)
        truth = float(draw((1_000_000,)).mean())
        cells = []
        for n in NS:
            d = draw((runs, n))
            cells.append(f"{covers(*t_bounds(d)[1:], truth):.3f} / {covers(*hall_bounds(d)[1:], truth):.3f}")
        print(f"| g ~ lognormal(0, {s}) | {truth:.3f} | " + " | ".join(cells) + " |")


_Z = np.random.default_rng(12345).normal(size=(400_000, 2))


def mean_logistic(ma: float, mb: float) -> float:
    """E[pa - pb] of the paired model above, by a large fixed Monte Carlo sample."""
    za = np.log(ma / (1 - ma)) + 0.8 * _Z[:, 0] + 0.4 * _Z[:, 1]
    zb = np.log(mb / (1 - mb)) + 0.8 * _Z[:, 0] + 0.4 * np.roll(_Z[:, 1], 1)
    return float(np.mean(1 / (1 + np.exp(-za)) - 1 / (1 + np.exp(-zb))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--boot", type=int, default=500, help="bootstrap resamples per run (two-stage, old)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    accuracy_table(rng, args.runs, args.tasks, (0.6, 0.7, 0.8, 0.9), 10, args.boot)
    accuracy_table(rng, args.runs, args.tasks, (0.7,), 30, args.boot)
    continuous_table(rng, args.runs)
    difference_table(rng, args.runs, args.tasks, 10)
    curve_table(rng, args.runs)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
