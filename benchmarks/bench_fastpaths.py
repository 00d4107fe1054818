"""Each fast path of the `speed` params switched on against off, side by side in one run, as time ratios.

The timed pass is the real evaluation pass (decode, crop, copy, forward, top-k counting) over a synthetic
dataset written at ImageNet-like size, for timm models with random weights: a transformer (ViT-B/16 at 224 by
default) for precision, fused attention, workers and device decode, a CNN (ResNet-50) for channels-last.
Runs alternate off and on, and the best of `--repeats` is kept for each. A ratio > 1 means the fast path helps.
On a CPU, tf32 and pinned memory do nothing and are skipped.
"""
import argparse
import dataclasses
import logging
import tempfile
from pathlib import Path

from common import random_loaded, seconds, synthetic_index
from vitviz.evaluation.accuracy import evaluate
from vitviz.core.runner import setup_logging
from vitviz.core.runtime import Runtime
from vitviz.core.distributed import local_device

log = logging.getLogger("vitviz.bench_fastpaths")


def compare(name: str, loaded, index, off: Runtime, on: Runtime, args, device) -> tuple[str, float, float]:
    """(switch, images/s off, images/s on) for one switch, off and on interleaved."""
    times = {"off": [], "on": []}
    for _ in range(args.repeats):
        for label, rt in (("off", off), ("on", on)):
            lm = dataclasses.replace(loaded, runtime=rt)
            times[label].append(seconds(lambda: evaluate(lm, index, "val", batch_size=args.batch_size,
                                                         device=device), device))
    n = len(index.split("val"))
    return name, n / min(times["off"]), n / min(times["on"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vit", default="vit_base_patch16_224")
    ap.add_argument("--cnn", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--image-size", type=int, default=375, help="short side of the written JPEGs (ImageNet ~375)")
    ap.add_argument("--images", type=int, default=64, help="val images (rounded to a multiple of 10)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    setup_logging()
    device = local_device(args.device)
    cuda = device.type == "cuda"
    with tempfile.TemporaryDirectory() as tmp:
        index = synthetic_index(Path(tmp), args.image_size, max(1, args.images // 10))
        vit = random_loaded(args.vit, args.size, index.wnids)
        cnn = random_loaded(args.cnn, args.size, index.wnids)
        base = Runtime(precision="fp32", fused_attention=False, channels_last=False, num_workers=0,
                       pin_memory=False, device_decode=False)
        rows = [compare("precision bf16 vs fp32", vit, index, base, dataclasses.replace(base, precision="bf16"),
                        args, device),
                compare("fused_attention on vs off", vit, index, base,
                        dataclasses.replace(base, fused_attention=True), args, device),
                compare("channels_last on vs off (CNN)", cnn, index, base,
                        dataclasses.replace(base, channels_last=True), args, device),
                compare(f"num_workers {args.workers} vs 0", vit, index, base,
                        dataclasses.replace(base, num_workers=args.workers), args, device),
                compare("device_decode on vs off", vit, index, base,
                        dataclasses.replace(base, device_decode=True), args, device)]
        if cuda:
            rows += [compare("precision tf32 vs fp32", vit, index, base, dataclasses.replace(base, precision="tf32"),
                             args, device),
                     compare(f"pin_memory on vs off ({args.workers} workers)", vit, index,
                             dataclasses.replace(base, num_workers=args.workers),
                             dataclasses.replace(base, num_workers=args.workers, pin_memory=True), args, device)]
        every = Runtime(precision="bf16", fused_attention=True, channels_last=True, num_workers=args.workers,
                        pin_memory=True, device_decode=cuda)
        rows.append(compare("all fast paths vs none (ViT)", vit, index, base, every, args, device))
    log.info("evaluation pass on %s, %d images of short side %d, batch %d, best of %d:", device.type,
             len(index.split("val")), args.image_size, args.batch_size, args.repeats)
    for name, off, on in rows:
        log.info("  %-40s off %8.1f img/s   on %8.1f img/s   speed-up %.2fx", name, off, on, on / off)


if __name__ == "__main__":
    main()
