"""SAE training streamed from the forward against plain inference through the same model and depth, in tokens
per second, side by side in one run (interleaved repeats, the least disturbed of each kept).

Plain: the truncated forward of `--images` images (on the device already) to the site's block. SAE: the same
forwards, each batch's tokens one optimisation step of an SAE on the site (train_sae's work, sae.fit.FitSAE
through the real stream accumulator). The default is the demo's: a demo-shaped ViT (64 px, 6 blocks, width 128)
with the default SAE at blocks.3.ffn (512 -> 1,024 latents, TopK 16, 64 images = 4,096 tokens per step).

    python benchmarks/bench_sae.py            # CPU, about a minute
    python benchmarks/bench_sae.py --model vit_base_patch16_224 --size 224 --site blocks.9.resid \\
        --expansion 16 --k 32 --images 512 --batch 84 --precision bf16     # a GPU (gpu_suite.py runs it too)
"""
from __future__ import annotations

import argparse

import torch
from common import DEMO_VIT, random_loaded, seconds

from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.loader import Batch
from vitviz.activations.sites import list_sites
from vitviz.activations.stream import Activations
from vitviz.core.runner import setup_logging
from vitviz.core.runtime import Runtime
from vitviz.sae.fit import FitSAE
from vitviz.sae.model import SparseAutoencoder
from vitviz.sae.settings import SAESettings
from vitviz.sae.trainer import SAETrainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vit_tiny_patch16_224")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--site", default="blocks.3.ffn")
    ap.add_argument("--expansion", type=int, default=2)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--images", type=int, default=640)
    ap.add_argument("--batch", type=int, default=64, help="images per forward = per SAE step")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    setup_logging()
    device = torch.device(args.device)
    kw = DEMO_VIT if args.model == "vit_tiny_patch16_224" and args.size == 64 else {}
    lm = random_loaded(args.model, args.size, runtime=Runtime(precision=args.precision), **kw)
    lm.prepare(device)
    site = list_sites(lm.model)[args.site]
    x = torch.rand(args.images, 3, args.size, args.size, device=device)
    forward = image_forward(lm.model)
    counts = {"tokens": 0}

    def run(fit: FitSAE | None):
        def go():
            with torch.no_grad(), Recorder(lm.model, [site.module], stop_after=site.block) as rec:
                for i in range(0, args.images, args.batch):
                    xb = x[i:i + args.batch]
                    with lm.autocast(device):
                        out = rec.run(forward, xb)
                    acts = Activations(Batch(xb, torch.zeros(len(xb), dtype=torch.long),
                                             torch.arange(i, i + len(xb)), 0), out)
                    tokens = acts.raw_tokens(site)
                    counts["tokens"] = tokens.shape[0] * tokens.shape[1] * args.images // len(xb)
                    if fit is not None:
                        fit.update(acts)
        return go

    def fit() -> FitSAE:
        s = SAESettings(expansion=args.expansion, k=args.k, batch_tokens=4096, tokens=10**12, warmup_steps=5)
        sae = SparseAutoencoder(site.channels, s).to(device)
        return FitSAE(site, SAETrainer(sae, bf16=args.precision == "bf16"), s.tokens)

    seconds(run(fit()), device)                                   # warm-up of both paths
    plain, trained = [], []
    for _ in range(args.repeats):
        plain.append(seconds(run(None), device))
        trained.append(seconds(run(fit()), device))
    tp, tt = min(plain), min(trained)
    n = counts["tokens"]
    print(f"{args.model} at {args.size} px, {args.site} ({site.channels} -> {site.channels * args.expansion} "
          f"latents, k {args.k}), {args.batch} images per step, {args.precision}, {device.type}: plain inference "
          f"{n / tp:,.0f} tokens/s, SAE training streamed from it {n / tt:,.0f} tokens/s, ratio {tp / tt:.2f}")


if __name__ == "__main__":
    main()
