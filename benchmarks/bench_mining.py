"""Mining throughput: all FFN sites mined (hooks, statistics, running top-k) against plain inference of the
same model on the same pre-decoded tensors, in one run, as a ratio; and the peak memory of each.

On the demo ViT (data/models/vit_demo, or a random model of its shape) by default; `--model vit_base_patch16_224`
measures a random timm ViT-B/16 at 224 (all 12 x 3072 = 36,864 FFN features). Both sides run under the
same runtime; on a GPU in fp32 and in bf16 (--precisions). The efficiency figure is mining throughput over plain
inference throughput (the issue's target: at least 0.75).
"""
import argparse
import logging
import resource
from pathlib import Path

import torch

from common import DEMO_VIT, random_loaded, seconds
from vitviz.activations.histogram import Histogram
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.loader import Batch
from vitviz.activations.stream import Activations
from vitviz.activations.topk import TopK
from vitviz.core.distributed import Context
from vitviz.core.runner import setup_logging
from vitviz.core.runtime import Runtime
from vitviz.visualization.selection import candidate_sites
from vitviz.core.distributed import local_device
from vitviz.models.store import load_model

log = logging.getLogger("vitviz.bench_mining")


def peak(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(lm, x, args, device) -> tuple[float, float]:
    """Best-of-repeats seconds of plain inference and of mining all FFN sites, interleaved."""
    sites = candidate_sites(lm, ["ffn"], None)
    forward = image_forward(lm.model)

    def plain():
        for i in range(0, len(x), args.batch_size):
            with lm.autocast(device):
                forward(x[i:i + args.batch_size])

    def mined():   # mining's own accumulators (running top-k and histograms) fed as the streaming pass feeds them
        accs = [TopK(sites, args.k), Histogram(sites)]
        with Recorder(lm.model, [s.module for s in sites], stop_after=sites[-1].block) as rec:
            for i in range(0, len(x), args.batch_size):
                xb = x[i:i + args.batch_size]
                with lm.autocast(device):
                    out = rec.run(forward, xb)
                acts = Activations(Batch(xb, torch.zeros(len(xb), dtype=torch.long),
                                         torch.arange(i, i + len(xb)), 0), out)
                for acc in accs:
                    acc.update(acts)
        for acc in accs:
            acc.finish(Context())

    times = {"plain": [], "mined": []}
    for _ in range(args.repeats):  # interleaved so both see the same machine load
        times["plain"].append(seconds(plain, device))
        times["mined"].append(seconds(mined, device))
    return min(times["plain"]), min(times["mined"])


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_demo")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precisions", default=None, help="comma-separated (default: fp32 on a CPU, fp32,bf16 on a GPU)")
    args = ap.parse_args()
    setup_logging()
    device = local_device(args.device)
    precisions = (args.precisions or ("fp32,bf16" if device.type == "cuda" else "fp32")).split(",")
    path = Path("data/models") / args.model
    for precision in precisions:
        rt = Runtime(precision=precision)
        if (path / "spec.json").exists():
            lm = load_model(path, device, rt)
        else:
            lm = random_loaded("vit_tiny_patch16_224", 64, runtime=rt, **DEMO_VIT) if args.model == "vit_demo" \
                else random_loaded(args.model, 224, runtime=rt)
            lm.prepare(device)
        size = lm.spec.input_size[1]
        x = torch.rand(args.images, 3, size, size, device=device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        plain, mined = measure(lm, x, args, device)
        total = sum(s.channels for s in candidate_sites(lm, ["ffn"], None))
        n = args.images
        log.info("%s in %s on %s, %d FFN features, %d images: plain inference %.1f img/s, mining %.1f img/s; "
                 "mining/plain throughput %.2f (target >= 0.75); peak memory %.0f MiB", args.model, precision,
                 device.type, total, n, n / plain, n / mined, plain / mined, peak(device))


if __name__ == "__main__":
    main()
