"""Activation maximisation as in the paper (authors' code): many (site, feature) targets optimised at once.

A batch holds features x augmented copies, feature-major. Each feature has its own image, its own random
generator and its own loss terms, so optimising it in a batch gives the same image as optimising it alone.
The forward stops after the deepest block any target of the batch needs.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from vitviz.visualization.augment import draw_batch, normalized_copies, roll_features, to_device
from vitviz.core.distributed import context, gather_objects, shard
from vitviz.core.threads import rebalance
from vitviz.activations.hooks import Recorder, image_forward
from vitviz.visualization.objectives import copies_variation, group_targets, objectives, total_variation, token_counts
from vitviz.activations.sites import Site, list_sites, resolve
from vitviz.models.store import LoadedModel, normalize
from vitviz.visualization.settings import VisSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One feature to visualise: channel `feature` of site `site`."""
    site: str
    feature: int


@dataclass
class FeatureResult:
    """A visualised feature: its image (uint8, H x W x 3) and how the optimisation went."""
    site: str
    kind: str
    layer: int
    feature: int
    head: int | None
    seed: int
    steps: int
    objective_start: float
    objective_final: float
    tv_final: float
    seconds: float
    image: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def feature_seed(base: int, model_key: str, site: str, feature: int) -> int:
    """An explicit seed per (model, site, feature), derived from one base seed (never the index alone)."""
    h = hashlib.sha256(f"{base}/{model_key}/{site}/{feature}".encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def _run_batch(loaded: LoadedModel, sites: list[Site], channels: list[int], seeds: list[int], cfg: VisSettings,
               device: torch.device, desc: str, maximize: bool = True) -> list[dict]:
    model = loaded.model
    size = loaded.spec.input_size[1:]
    def norm(t: torch.Tensor) -> torch.Tensor:
        return normalize(t, loaded.spec)
    forward = image_forward(model)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x = torch.stack([torch.rand(3, *size, generator=g) for g in gens]).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps, eta_min=0.0)
    deepest = max(sites, key=lambda s: s.layer).block
    copies = cfg.copies
    tv_w = torch.tensor([cfg.tv_for(s.name, c) for s, c in zip(sites, channels)], device=device)
    groups = group_targets(sites, channels, device)
    with Recorder(model, [s.module for s in sites], stop_after=deepest) as rec:
        def clean_objective() -> torch.Tensor:
            with torch.no_grad(), loaded.autocast(device):
                return objectives(rec.run(forward, norm(x)), groups, 1, cfg.reduce)

        start = clean_objective()
        if cfg.reduce == "sum":  # sum = N x mean over N patch tokens: TV scaled by N too (one optimisation for Adam)
            with torch.no_grad(), loaded.autocast(device):
                tv_w = tv_w * token_counts(rec.run(forward, norm(x)), groups, len(sites))
        losses = []
        mean, std = (torch.tensor(v, dtype=x.dtype, device=device).view(3, 1, 1)
                     for v in (loaded.spec.mean, loaded.spec.std))
        for step in tqdm(range(cfg.steps), desc=desc, unit="step", mininterval=2.0, leave=False):
            rebalance()
            # the copies (roll(x) - m) / s + noise, normalised, as one affine map per copy and channel of the
            # F jittered images; their TV from the F images alone (m and the noise cancel in differences)
            params, shifts = draw_batch(gens, step, cfg.steps, cfg)
            m, s, noise = to_device(params, device)                         # (F, copies, 3, 1, 1)
            rolled = roll_features(x, shifts)
            inp = normalized_copies(rolled, m, s, noise, mean, std)
            with loaded.autocast(device):
                obj = objectives(rec.run(forward, inp), groups, copies, cfg.reduce)
            tv = copies_variation(rolled, s).mean(dim=1)
            per_feature = (-obj if maximize else obj) + tv_w * tv
            loss = per_feature.sum()
            losses.append(per_feature.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
        final = clean_objective()
        with torch.no_grad():
            tv_final = total_variation(x)
    imgs = (x.detach() * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    hist = torch.stack(losses, dim=1).cpu().numpy() if losses else np.zeros((len(sites), 0))
    return [{"objective_start": float(start[i]), "objective_final": float(final[i]),
             "tv_final": float(tv_final[i]), "image": imgs[i], "losses": hist[i]} for i in range(len(sites))]


def visualize(loaded: LoadedModel, targets: list[Target], cfg: VisSettings, seed: int = 0,
              device: str | torch.device = "cpu", seeds: list[int] | None = None, maximize: bool = True
              ) -> list[FeatureResult]:
    """Optimise an image for each target, `cfg.batch_features` targets at a time; results in target order.

    `maximize=False` minimises each objective instead (the minimally activating images of MIS); the
    objectives reported stay the raw objective."""
    device = torch.device(device)
    loaded.prepare(device)
    all_sites = list_sites(loaded.model)
    for t in targets:   # the model's sites are listed once; a bad target gets resolve's one-line error
        site = all_sites.get(t.site)
        if site is None or not 0 <= t.feature < site.channels:
            resolve(loaded.model, t.site, t.feature)
    seeds = seeds or [feature_seed(seed, loaded.key, t.site, t.feature) for t in targets]
    order = sorted(range(len(targets)), key=lambda i: (all_sites[targets[i].site].layer, i))
    results: list[FeatureResult | None] = [None] * len(targets)
    n = cfg.batch_features
    batches = []  # never mix layers in a batch, so each forward stops as early as its targets allow
    for i in order:
        if batches and len(batches[-1]) < n and all_sites[targets[batches[-1][0]].site].layer == \
                all_sites[targets[i].site].layer:
            batches[-1].append(i)
        else:
            batches.append([i])
    ctx = context()
    starts = [sum(len(x) for x in batches[:j]) for j in range(len(batches))]
    for b, idx in shard(list(zip(starts, batches)), ctx):  # whole batches per rank under torchrun
        sites = [all_sites[targets[i].site] for i in idx]
        t0 = time.perf_counter()
        out = _run_batch(loaded, sites, [targets[i].feature for i in idx], [seeds[i] for i in idx], cfg, device,
                         f"{loaded.key} features {b + 1}-{b + len(idx)}/{len(order)}", maximize)
        per = (time.perf_counter() - t0) / len(idx)
        for j, i in enumerate(idx):
            s = sites[j]
            results[i] = FeatureResult(s.name, s.kind, s.layer, targets[i].feature, s.head_of(targets[i].feature),
                                       seeds[i], cfg.steps, seconds=per, **out[j])
        log.info("%s: features %d-%d of %d done, %.2f s per feature", loaded.key, b + 1, b + len(idx), len(order), per)
    if ctx.world > 1:
        for part in gather_objects([(i, r) for i, r in enumerate(results) if r is not None], ctx):
            for i, r in part:
                results[i] = r
    return results
