"""Cost of one visualisation step against a plain truncated forward+backward of the same images.

For each model (the demo-sized ViT, and a DeiT-tiny-sized random ViT at 224 px), targets at block `--block`:
  * the visualisation: `_run_batch` of vitviz.visualization.optimize (augmentation, hooked forward that stops
    after the block, objective, TV, backward into the image, Adam, clamp), timed over `--steps` steps with the
    two clean forwards of its start and end measured apart and taken off;
  * the plain pass: the same truncated forward (hook on the site, stop after the block) and a backward from
    the mean of the hooked output into an input of features x copies images, `--steps` times.
The ratio visualisation / plain is 1.0 when the step adds nothing to the network's own work. It also prints
(each the fastest of --repeats interleaved runs, against a busy machine) features per second at 1 and 4 features per step (`--batch`), and with --profile a torch.profiler table of
one step.
"""
import argparse
import logging

import torch
from common import DEMO_VIT, random_loaded, seconds

from vitviz.core.runner import setup_logging
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.activations.sites import list_sites
from vitviz.models.store import normalize
from vitviz.visualization.optimize import _run_batch
from vitviz.visualization.settings import VisSettings

log = logging.getLogger("vitviz.bench_visualize_step")

MODELS = {  # name: (timm architecture, input size, kwargs)
    "demo ViT (64 px, 6 blocks, dim 128)": ("vit_tiny_patch16_224", 64, DEMO_VIT),
    "DeiT-tiny-sized ViT (224 px, dim 192)": ("deit_tiny_patch16_224", 224, {}),
}


def vis_seconds(loaded, site, features: int, steps: int, copies: int, device) -> float:
    """Seconds of `steps` visualisation steps for `features` features of `site`, start/end forwards excluded (a run of
    steps + 1 steps less a run of 1 step)."""
    cfg = VisSettings(steps=steps + 1, batch_features=features, copies=copies)
    zero = VisSettings(steps=1, batch_features=features, copies=copies)
    sites, channels, seeds = [site] * features, list(range(features)), list(range(features))
    t = seconds(lambda: _run_batch(loaded, sites, channels, seeds, cfg, device, "bench"), device)
    t0 = seconds(lambda: _run_batch(loaded, sites, channels, seeds, zero, device, "bench"), device)
    return max(t - t0, 1e-9)


def plain_seconds(loaded, site, images: int, steps: int, device) -> float:
    """Seconds of `steps` truncated forward+backward passes of `images` images into their input."""
    size = loaded.spec.input_size[1:]
    x = torch.rand(images, 3, *size, device=device, requires_grad=True)
    forward = image_forward(loaded.model)

    def run():
        with Recorder(loaded.model, [site.module], stop_after=site.block) as rec:
            for _ in range(steps):
                with loaded.autocast(device):
                    out = rec.run(forward, normalize(x, loaded.spec))[site.module][0]
                out.float().mean().backward()
                x.grad = None
    return seconds(run, device)


def profile_step(loaded, site, features: int, copies: int, device) -> None:
    from torch.profiler import ProfilerActivity, profile
    cfg = VisSettings(steps=3, batch_features=features, copies=copies)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _run_batch(loaded, [site] * features, list(range(features)), list(range(features)), cfg, device, "p")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the fastest of each is kept")
    ap.add_argument("--batch", default="1,4", help="features per step to compare")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    for title, (arch, size, kw) in MODELS.items():
        loaded = random_loaded(arch, size, **kw)
        loaded.prepare(device)
        site = list_sites(loaded.model)[f"blocks.{args.block}.ffn"]
        vis_seconds(loaded, site, 1, 2, args.copies, device)   # warm-up
        for f in (int(b) for b in args.batch.split(",")):
            runs = [(vis_seconds(loaded, site, f, args.steps, args.copies, device),
                     plain_seconds(loaded, site, f * args.copies, args.steps, device)) for _ in range(args.repeats)]
            tv, tp = min(r[0] for r in runs), min(r[1] for r in runs)   # interleaved, least disturbed of each
            print(f"{title}, block {args.block}, {f} feature(s) x {args.copies} copies per step: "
                  f"visualisation {1000 * tv / args.steps:.1f} ms/step, plain truncated fwd+bwd "
                  f"{1000 * tp / args.steps:.1f} ms/step, ratio {tv / tp:.2f}; "
                  f"{f * args.steps / tv:.2f} feature-steps/s")
        if args.profile:
            profile_step(loaded, site, 4, args.copies, device)


if __name__ == "__main__":
    main()
