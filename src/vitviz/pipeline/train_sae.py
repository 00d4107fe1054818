"""The train_sae stage's work for one model: an SAE per site, trained on one streaming pass of a split (several
sites in the same pass), scored on a held-out split, and the model's top-1 with each SAE's reconstruction spliced
in at its site against the clean top-1 (the classifier's analogue of "loss recovered")."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch

from vitviz.activations.hooks import Recorder, Replace, image_forward
from vitviz.activations.kinds import SAE_BASES
from vitviz.activations.sites import Site, list_sites
from vitviz.activations.stream import stream
from vitviz.core.distributed import context
from vitviz.core.errors import ConfigError
from vitviz.core.threads import fixed_threads
from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.evaluation.accuracy import evaluate
from vitviz.models.store import LoadedModel
from vitviz.sae.fit import FitSAE, ScoreSAE
from vitviz.sae.metrics import ScoreSums
from vitviz.sae.model import SparseAutoencoder, splice
from vitviz.sae.settings import SAEConfig
from vitviz.sae.trainer import SAETrainer

log = logging.getLogger(__name__)


@dataclass
class SiteSAE:
    """One trained SAE: its site, the SAE, its training curve and its scores."""
    site: Site
    sae: SparseAutoencoder
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def sae_sites(loaded: LoadedModel, names: list[str]) -> list[Site]:
    """The sites `names` of the model, each one an SAE can read (one line per bad name)."""
    sites, errors = list_sites(loaded.model), []
    for i, name in enumerate(names):
        if name not in sites:
            errors.append(f"sae.sites[{i}]: {name!r} is not a site of {loaded.key}")
        elif sites[name].kind not in SAE_BASES:
            errors.append(f"sae.sites[{i}]: {name!r} is a {sites[name].kind} site; an SAE reads "
                          f"{', '.join(SAE_BASES)} sites (whole activations)")
    if errors:
        raise ConfigError(errors, "sae")
    return [sites[n] for n in names]


@torch.no_grad()
def tokens_per_image(loaded: LoadedModel, site: Site, kind: str, device: torch.device) -> int:
    """The tokens an SAE of `site` reads from one image (one forward of a blank image)."""
    size = loaded.spec.input_size
    with Recorder(loaded.model, [site.module], stop_after=site.block) as rec:
        out = rec.run(image_forward(loaded.model), torch.zeros(1, *size, device=device))
        return site.patch_tokens(out[site.module], 1, prefix=kind == "all").shape[1]


def training_rows(n: int, images: int, seed: int) -> list[int]:
    """`images` rows of a split of n rows, in seeded random orders: one permutation per pass over the split."""
    rows: list[int] = []
    epoch = 0
    while len(rows) < images:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        rows += torch.randperm(n, generator=g).tolist()
        epoch += 1
    return rows[:images]


def train_saes(loaded: LoadedModel, index: DatasetIndex, cfg: SAEConfig, device: torch.device,
               eval_batch_size: int = 64) -> list[SiteSAE]:
    """Train, score and splice an SAE for each site of `cfg` (see the module's docstring), on `cfg.threads`
    intra-op threads (the trained dictionary depends on them on a CPU)."""
    with fixed_threads(cfg.threads):
        return _train_saes(loaded, index, cfg, device, eval_batch_size)


def _train_saes(loaded: LoadedModel, index: DatasetIndex, cfg: SAEConfig, device: torch.device,
                eval_batch_size: int) -> list[SiteSAE]:
    s = cfg.train
    sites = sae_sites(loaded, list(cfg.sites))
    for i, site in enumerate(sites):
        s.check(site.channels, f"sae.train (site {site.name})")
    loaded.prepare(device)
    per_image = tokens_per_image(loaded, sites[0], s.tokens_kind, device)
    step_images = max(1, s.batch_tokens // per_image)      # one optimisation step per batch of images
    world = context().world
    if step_images % world:
        step_images += world - step_images % world           # every rank takes an equal share of each step
    rows = training_rows(len(index.split(cfg.split)), step_images * math.ceil(s.tokens / (per_image * step_images)),
                         s.seed)
    bf16 = loaded.runtime.precision == "bf16"
    fits = [FitSAE(site, SAETrainer(SparseAutoencoder(site.channels, s).to(device), bf16=bf16), s.tokens)
            for site in sites]
    log.info("%s: SAEs at %s, %d tokens per image, %d images per step, %d steps", loaded.key,
             ", ".join(cfg.sites), per_image, step_images, len(rows) // step_images)
    stream(loaded, index, cfg.split, rows, fits, step_images // world, device, f"train SAEs {loaded.key}")
    out = [SiteSAE(f.site, f.trainer.sae.eval().requires_grad_(False), f.history) for f in fits]
    # held-out scores, all SAEs in one pass
    held_out = spread_rows(len(index.split(cfg.eval_split)), cfg.eval_limit)
    scores = [ScoreSAE(r.site, ScoreSums(r.sae), s.tokens_kind) for r in out]
    stream(loaded, index, cfg.eval_split, held_out, scores, eval_batch_size, device, f"score SAEs {loaded.key}")
    clean = evaluate(loaded, index, cfg.eval_split, cfg.eval_limit, eval_batch_size, device)
    for r, sc, fit in zip(out, scores, fits):
        with Replace(loaded.model, r.site.module, spliced(r.site, r.sae, s.tokens_kind)):
            hurt = evaluate(loaded, index, cfg.eval_split, cfg.eval_limit, eval_batch_size, device)
        r.metrics = {"site": r.site.name, "input_dim": r.site.channels, "width": r.sae.width, "k": s.k,
                     **sc.scores.summary(), "train_tokens": fit.trainer.tokens, "train_steps": fit.trainer.steps,
                     "top1_clean": clean.get("top1"), "top1_spliced": hurt.get("top1"),
                     "top5_clean": clean.get("top5"), "top5_spliced": hurt.get("top5")}
        log.info("%s %s: R^2 %.3f, L0 %.1f, dead %.3f, top-1 %.1f -> %.1f spliced", loaded.key, r.site.name,
                 r.metrics["r2"], r.metrics["l0"], r.metrics["dead_fraction"], clean.get("top1", float("nan")),
                 hurt.get("top1", float("nan")))
    return out


def spliced(site: Site, sae: SparseAutoencoder, tokens_kind: str):
    """The output of the site's module with its (patch) tokens replaced by the SAE's reconstruction."""
    def fn(output: torch.Tensor) -> torch.Tensor:
        b = output.shape[0]
        x = output.reshape(b, -1, output.shape[-1])
        keep = 0 if tokens_kind == "all" else site.prefix
        rec = splice(sae, x[:, keep:])
        return torch.cat([x[:, :keep], rec], dim=1).reshape(output.shape)
    return fn
