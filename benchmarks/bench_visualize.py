"""Feature visualisation speed.

1. Features per minute, batched against one at a time, on the demo ViT (data/models/vit_demo, or a random
   model of the same shape), same features of its last block, same steps, in one run; printed as a ratio.
2. Seconds per feature at the paper's setting (400 steps, 8 copies) for timm ViT-B/16 at 224 (random
   weights: speed does not depend on them): a few steps are timed and extrapolated to 400. Its efficiency is
   the time of a plain forward and backward of the same model on as many images (features x copies), measured
   in the same run under the same precision, over the time of the visualisation steps (1.0 = no overhead);
   in fp32 and bf16 on a GPU (--precisions).
"""
import argparse
import logging
from pathlib import Path

import torch

from common import DEMO_VIT, random_loaded, seconds
from vitviz.core.runner import setup_logging
from vitviz.core.runtime import Runtime
from vitviz.visualization.optimize import Target, visualize
from vitviz.visualization.settings import VisSettings
from vitviz.core.distributed import local_device
from vitviz.models.store import load_model

log = logging.getLogger("vitviz.bench_visualize")


def timed(loaded, targets, cfg, device) -> float:
    return seconds(lambda: visualize(loaded, targets, cfg, device=device), device)


def plain_fwd_bwd(loaded, images: int, steps: int, device) -> float:
    """Seconds for `steps` forward+backward passes of `images` images through the model (input gradients),
    under the same runtime (precision, attention kernel) as the visualisation."""
    size = loaded.spec.input_size[1]
    x = torch.rand(images, 3, size, size, device=device, requires_grad=True)

    def run():
        for _ in range(steps):
            with loaded.autocast(device):
                y = loaded.model.forward_features(x)
            y.float().mean().backward()
    return seconds(run, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--b16-steps", type=int, default=3, help="steps timed for ViT-B/16 before extrapolating")
    ap.add_argument("--b16-features", type=int, default=8, help="features per batch for ViT-B/16")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precisions", default=None,
                    help="comma-separated precisions for ViT-B/16 (default: fp32 on a CPU, fp32,bf16 on a GPU)")
    args = ap.parse_args()
    setup_logging()
    device = local_device(args.device)
    demo = Path("data/models/vit_demo")
    loaded = load_model(demo, device) if (demo / "spec.json").exists() else random_loaded(
        "vit_tiny_patch16_224", 64, **DEMO_VIT)
    layers = max(int(n.split(".")[1]) for n, _ in loaded.model.named_modules() if n.startswith("blocks.")
                 and n.count(".") == 1) + 1
    targets = [Target(f"blocks.{layers - 1}.ffn", i) for i in range(args.features)]  # like for like: one depth
    aug = dict(copies=args.copies, jitter=8)
    batched = VisSettings(steps=args.steps, batch_features=args.features, **aug)
    single = VisSettings(steps=args.steps, batch_features=1, **aug)
    timed(loaded, targets[:2], VisSettings(steps=2, batch_features=2, **aug), device)  # warm-up
    tb = timed(loaded, targets, batched, device)
    ts = timed(loaded, targets, single, device)
    log.info("demo ViT, %d features x %d steps x %d copies on %s: batched %.1f features/min, one at a time "
             "%.1f features/min; batched speed-up %.2fx", args.features, args.steps, args.copies, device.type,
             60 * args.features / tb, 60 * args.features / ts, ts / tb)
    precisions = (args.precisions or ("fp32,bf16" if device.type == "cuda" else "fp32")).split(",")
    for precision in precisions:
        b16 = random_loaded("vit_base_patch16_224", 224, runtime=Runtime(precision=precision))
        b16.prepare(device)
        cfg = VisSettings(steps=args.b16_steps, batch_features=args.b16_features, copies=8)
        tgt = [Target("blocks.11.ffn", i) for i in range(args.b16_features)]
        timed(b16, tgt[:1], VisSettings(steps=1, batch_features=1, copies=8), device)
        t = timed(b16, tgt, cfg, device)
        plain = plain_fwd_bwd(b16, 8 * args.b16_features, args.b16_steps, device)
        per_feature = t / args.b16_features * 400 / args.b16_steps
        log.info("ViT-B/16 at 224 in %s, deepest layer, 8 copies, %d features per batch on %s: %.2f s per feature "
                 "at 400 steps (extrapolated from %d steps), %.1f features per minute; efficiency vs plain "
                 "forward+backward %.2f; the paper: up to 90 s on an RTX 2080 Ti", precision, args.b16_features,
                 device.type, per_feature, args.b16_steps, 60 / per_feature, plain / t)


if __name__ == "__main__":
    main()
