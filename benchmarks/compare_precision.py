"""How far bf16 autocast moves the results from fp32, on the trained demo models (data/ from `dvc repro`):
top-1/top-5 of each model, the mined statistics and exemplars of every FFN feature of vit_demo, and the
objective reached by feature visualisation. The README's tolerance for bf16 comes from these figures."""
import argparse
import logging

import numpy as np

from vitviz.evaluation.accuracy import evaluate
from vitviz.data.imagenet import read_index
from vitviz.exemplars.mining import mine
from vitviz.core.runner import setup_logging
from vitviz.core.runtime import Runtime
from vitviz.visualization.selection import candidate_sites
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.core.distributed import local_device
from vitviz.models.store import load_model

log = logging.getLogger("vitviz.compare_precision")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="data")
    ap.add_argument("--vit", default="vit_demo")
    ap.add_argument("--cnn", default="resnet_demo")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    setup_logging()
    device = local_device(args.device)
    index = read_index(f"{args.data}/dataset")
    load = lambda key, p: load_model(f"{args.data}/models/{key}", device, Runtime(precision=p))  # noqa: E731
    for key in (args.vit, args.cnn):
        a, b = (evaluate(load(key, p), index, "val", device=device) for p in ("fp32", "bf16"))
        log.info("%s top-1 fp32 %.2f bf16 %.2f; top-5 fp32 %.2f bf16 %.2f", key, a["top1"], b["top1"], a["top5"],
                 b["top5"])
    lm = load(args.vit, "fp32")
    sites = candidate_sites(lm, ["ffn"], None)
    a = mine(lm, sites, index, "val", k=5, device=device)
    b = mine(load(args.vit, "bf16"), sites, index, "val", k=5, device=device)
    rms = float((a.values - b.values).pow(2).mean().sqrt() / a.values.pow(2).mean().sqrt())
    same_top1 = float((a.indices[0] == b.indices[0]).float().mean())
    overlap = np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a.indices.T.tolist(), b.indices.T.tolist())])
    log.info("%s mining, %d FFN features: RMS error of the top-5 statistics %.2f%% of their RMS; top-1 exemplar "
             "the same for %.1f%% of features; top-5 sets overlap %.1f%%", args.vit, a.values.shape[1], 100 * rms,
             100 * same_top1, 100 * overlap)
    depth = max(s.layer for s in sites) + 1
    targets = [Target(f"blocks.{layer}.ffn", f) for layer in range(depth) for f in (3, 77)]
    cfg = VisSettings(steps=args.steps, batch_features=len(targets), copies=4, jitter=8)
    va, vb = visualize(lm, targets, cfg, device=device), visualize(load(args.vit, "bf16"), targets, cfg, device=device)
    rel = [abs(y.objective_final - x.objective_final) / max(abs(x.objective_final - x.objective_start), 1e-6)
           for x, y in zip(va, vb)]
    log.info("%s visualisation, %d features x %d steps: |bf16 - fp32| final objective over the fp32 gain: "
             "median %.1f%%, max %.1f%%", args.vit, len(targets), args.steps, 100 * np.median(rel), 100 * max(rel))


if __name__ == "__main__":
    main()
