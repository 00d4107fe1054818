"""Scoring speed: seconds per scored feature against seconds per optimised feature, side by side.

On the demo ViT's shape (data/models/vit_demo, or random weights of the same shape: speed does not depend
on them), the demo's selection (2 FFN features per block, 2 per attention kind in blocks 0 and 5) is optimised
with the demo recipe; then score_features runs with the demo's score params (the first feature of each site,
seed agreement on, N = 20, K = 9) over a synthetic val split of the demo's size (200 images), with a random
resnet10t as the similarity model. Printed: both times per feature and their ratio, and the share of the
scoring time spent in its extra optimisations (the min image and the second seed).
"""
import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from common import DEMO_VIT, random_loaded, synthetic_index
from vitviz.core.runner import setup_logging
from vitviz.scoring.score import score_features, select_scored
from vitviz.scoring.settings import ScoreConfig
from vitviz.scoring.similarity import SimilarityModel, penultimate
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.visualization.store import image_name

import pandas as pd

log = logging.getLogger("vitviz.bench_scoring")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--per-site", type=int, default=1)
    ap.add_argument("--no-seed-agreement", action="store_true")
    ap.add_argument("--val-per-class", type=int, default=20)
    args = ap.parse_args()
    setup_logging(logging.WARNING)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    device = torch.device("cpu")
    vit = random_loaded("vit_tiny_patch16_224", 64, num_classes=10, **DEMO_VIT)
    vit.spec.key = "vit_demo"
    sim_loaded = random_loaded("resnet10t", 64, num_classes=10)
    sim = SimilarityModel("resnet10t", sim_loaded, penultimate(sim_loaded.prepare(device), "timm"))
    targets = [Target(f"blocks.{l}.ffn", f) for l in range(6) for f in (0, 1)]
    targets += [Target(f"blocks.{l}.{k}", f) for k in ("attn.in", "attn.q", "attn.k", "attn.v") for l in (0, 5)
                for f in (0, 1)]
    recipe = VisSettings(steps=args.steps, copies=args.copies, jitter=8, batch_features=16)
    with tempfile.TemporaryDirectory() as tmp:
        index = synthetic_index(Path(tmp) / "ds", val_per_class=args.val_per_class)
        t0 = time.perf_counter()
        res = visualize(vit, targets, recipe, device=device)
        t_opt = (time.perf_counter() - t0) / len(res)
        features = pd.DataFrame([{"site": r.site, "kind": r.kind, "layer": r.layer, "feature": r.feature,
                                  "head": r.head, "seed": r.seed, "image": "images/" + image_name(r.site, r.feature)}
                                 for r in res])
        images = dict(zip(features["image"], [r.image for r in res]))
        scored = select_scored(features, args.per_site)
        cfg = ScoreConfig(seed_agreement=not args.no_seed_agreement)
        t0 = time.perf_counter()
        score_features(vit, features, images, recipe, index, sim, cfg, device, scored)
        t_score = (time.perf_counter() - t0) / len(scored)
        t0 = time.perf_counter()
        sub = [Target(r.site, int(r.feature)) for r in scored.itertuples()]
        visualize(vit, sub, recipe, device=device)
        t_one = (time.perf_counter() - t0) / len(sub)
    extra = (1 + (not args.no_seed_agreement)) * t_one
    print(f"optimised features: {len(res)}, scored: {len(scored)} ({args.steps} steps, {args.copies} copies)")
    print(f"seconds per optimised feature: {t_opt:.2f}")
    print(f"seconds per scored feature:    {t_score:.2f}  (ratio scored / optimised: {t_score / t_opt:.2f})")
    print(f"of which extra optimisations:  {extra:.2f}  ({extra / t_score:.0%} of the scoring time)")
    print(f"stage time against optimize_features: {t_score * len(scored) / (t_opt * len(res)):.2f}")


if __name__ == "__main__":
    main()
