"""Evaluation throughput: the full path (decode + timm transform + forward) vs forward alone, as a ratio.

Uses data/dataset and data/models/<key> from `dvc repro` when present; otherwise makes a small synthetic
dataset and a randomly initialised demo ViT in a temporary folder.
"""
import argparse
import logging
import tempfile
import time
from pathlib import Path

import timm
import torch

from vitviz.config import PrepareDataConfig, SyntheticConfig
from vitviz.data import IndexedImages, loader
from vitviz.evaluate import evaluate
from vitviz.imagenet import read_index
from vitviz.modelspec import ModelSpec
from vitviz.prepare import prepare_dataset
from vitviz.runner import setup_logging
from vitviz.zoo import load_model, save_model

log = logging.getLogger("vitviz.bench_eval")


def fixture(tmp: Path) -> tuple[Path, Path]:
    prepare_dataset(PrepareDataConfig(synthetic=SyntheticConfig(train_per_class=1, val_per_class=40)), tmp / "ds")
    idx = read_index(tmp / "ds")
    spec = ModelSpec(key="vit", library="timm", name="vit_tiny_patch16_224", input_size=(3, 64, 64),
                     kwargs={"img_size": 64, "patch_size": 8, "embed_dim": 128, "depth": 6, "num_heads": 4},
                     crop_pct=1.0, num_classes=len(idx.wnids), class_wnids=idx.wnids)
    save_model(timm.create_model(spec.name, num_classes=spec.num_classes, **spec.kwargs), spec, tmp / "vit")
    return tmp / "ds", tmp / "vit"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--key", default="vit_demo")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory() as t:
        ds, md = Path("data/dataset"), Path(f"data/models/{args.key}")
        if not (ds / "meta.json").exists() or not (md / "spec.json").exists():
            ds, md = fixture(Path(t))
        idx, lm = read_index(ds), load_model(md)
        xs = torch.cat([x for x, *_ in loader(IndexedImages(idx, "val", lm.transform), args.batch_size)])
        full, fwd = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            evaluate(lm, idx, "val", batch_size=args.batch_size)
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with torch.no_grad():
                for i in range(0, len(xs), args.batch_size):
                    lm.model(xs[i:i + args.batch_size])
            fwd.append(time.perf_counter() - t0)
        n = len(xs)
        log.info("images: %d; full path %.1f img/s; forward only %.1f img/s; full/forward time ratio %.2f",
                 n, n / min(full), n / min(fwd), min(full) / min(fwd))


if __name__ == "__main__":
    main()
