"""Evaluation throughput: the full path (decode + timm transform + forward) vs forward alone, as a ratio.

Uses data/dataset and data/models/<key> from `dvc repro` when present; otherwise makes a small synthetic
dataset and a randomly initialised demo ViT in a temporary folder.
"""
import argparse
import logging
import tempfile
from pathlib import Path

import torch

from common import DEMO_VIT, random_loaded, seconds, synthetic_index
from vitviz.activations.loader import batches
from vitviz.evaluation.accuracy import evaluate
from vitviz.data.imagenet import read_index
from vitviz.core.runner import setup_logging
from vitviz.core.distributed import local_device
from vitviz.models.store import load_model

log = logging.getLogger("vitviz.bench_eval")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--key", default="vit_demo")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    setup_logging()
    device = local_device(args.device)
    with tempfile.TemporaryDirectory() as t:
        ds, md = Path("data/dataset"), Path(f"data/models/{args.key}")
        if (ds / "meta.json").exists() and (md / "spec.json").exists():
            idx, lm = read_index(ds), load_model(md, device)
        else:
            idx = synthetic_index(Path(t))
            lm = random_loaded("vit_tiny_patch16_224", 64, idx.wnids, num_classes=len(idx.wnids), **DEMO_VIT)
            lm.prepare(device)
        rows = range(len(idx.split("val")))
        xs = torch.cat([b.x for b in batches(lm, idx, "val", rows, args.batch_size, device)])

        @torch.no_grad()
        def forward_only():
            for i in range(0, len(xs), args.batch_size):
                lm.classify(xs[i:i + args.batch_size])

        full, fwd = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            full.append(seconds(lambda: evaluate(lm, idx, "val", batch_size=args.batch_size, device=device), device))
            fwd.append(seconds(forward_only, device))
        n = len(xs)
        log.info("images: %d on %s; full path %.1f img/s; forward only %.1f img/s; full/forward time ratio %.2f",
                 n, device.type, n / min(full), n / min(fwd), min(full) / min(fwd))


if __name__ == "__main__":
    main()
