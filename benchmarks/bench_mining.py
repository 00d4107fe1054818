"""Mining throughput: all FFN sites mined (hooks, statistics, running top-k) against plain inference of the
same model on the same pre-decoded tensors, in one run, as a ratio; and the peak memory of each.

On the demo ViT (data/models/vit_demo, or a random model of its shape) by default; `--model vit_base_patch16_224`
measures a random timm ViT-B/16 at 224 (all 12 x 3072 = 36,864 FFN features).
"""
import argparse
import logging
import resource
import time
from pathlib import Path

import timm
import torch

from vitviz.hooks import Recorder, image_forward
from vitviz.mining import merge_topk, site_statistic
from vitviz.modelspec import ModelSpec
from vitviz.runner import setup_logging
from vitviz.selection import candidate_sites
from vitviz.visualize import pick_device
from vitviz.zoo import LoadedModel, load_model

log = logging.getLogger("vitviz.bench_mining")


def peak(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_demo")
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    setup_logging()
    device = pick_device(args.device)
    path = Path("data/models") / args.model
    if (path / "spec.json").exists():
        lm = load_model(path, device)
    else:
        kw = {} if args.model != "vit_demo" else {"img_size": 64, "patch_size": 8, "embed_dim": 128, "depth": 6,
                                                  "num_heads": 4}
        name = "vit_tiny_patch16_224" if args.model == "vit_demo" else args.model
        m = timm.create_model(name, **kw).eval().to(device)
        size = kw.get("img_size", 224)
        lm = LoadedModel(m, ModelSpec(key=args.model, library="timm", name=name, input_size=(3, size, size)), None)
    size = lm.spec.input_size[1]
    x = torch.rand(args.images, 3, size, size, device=device)
    sites = candidate_sites(lm, ["ffn"], None)
    total = sum(s.channels for s in sites)
    forward = image_forward(lm.model)
    plain, mined = [], []
    for _ in range(args.repeats):  # interleaved so both see the same machine load
        t0 = time.perf_counter()
        for i in range(0, len(x), args.batch_size):
            forward(x[i:i + args.batch_size])
        if device.type == "cuda":
            torch.cuda.synchronize()
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        vals = torch.empty(0, total, device=device)
        idx = torch.empty(0, total, dtype=torch.long, device=device)
        with Recorder(lm.model, [s.module for s in sites], stop_after=sites[-1].block) as rec:
            for i in range(0, len(x), args.batch_size):
                xb = x[i:i + args.batch_size]
                out = rec.run(forward, xb)
                stats = torch.cat([site_statistic(s, out[s.module], len(xb), "mean") for s in sites], 1)
                rows = torch.arange(i, i + len(xb), device=device).view(-1, 1).expand(-1, total)
                vals, idx = merge_topk(vals, idx, stats, rows, args.k, ordered=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        mined.append(time.perf_counter() - t0)
    n = args.images
    log.info("%s on %s, %d FFN features, %d images: plain inference %.1f img/s, mining %.1f img/s; "
             "mining/plain time ratio %.2f (target <= 1.3); peak memory %.0f MiB", args.model, device.type, total, n,
             n / min(plain), n / min(mined), min(mined) / min(plain), peak(device))


if __name__ == "__main__":
    main()
