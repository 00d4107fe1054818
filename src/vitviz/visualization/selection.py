"""Choose which features to visualise: listed, the highest mean activation over a split, or random."""
from __future__ import annotations

import logging

import torch

from vitviz.activations.kinds import LATENT, is_latent
from vitviz.activations.mean import Mean
from vitviz.activations.sites import Site, list_sites, resolve
from vitviz.activations.stream import stream
from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.visualization.optimize import Target, feature_seed
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)


def candidate_sites(loaded: LoadedModel, kinds: list[str], layers: list[int] | None,
                    attn_layers: list[int] | None = None) -> list[Site]:
    """Sites of the given kinds at the given layers (all layers when None), in execution order."""
    out = []
    for s in list_sites(loaded.model).values():
        allowed = attn_layers if (s.kind.startswith("attn.") and not is_latent(s.kind)
                                  and attn_layers is not None) else layers
        if s.kind in kinds and (allowed is None or s.layer in allowed):
            out.append(s)
    return out


def mean_activations(loaded: LoadedModel, sites: list[Site], index: DatasetIndex, split: str, limit: int,
                     batch_size: int = 64, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Per site, each channel's activation averaged over patch tokens and over `limit` images of a split."""
    acc = Mean(sites)
    stream(loaded, index, split, spread_rows(len(index.split(split)), limit), [acc], batch_size, device,
           f"rank features {loaded.key}")
    return acc.means


def comparison_targets(loaded: LoadedModel, sae_sites: list[str], per_site: int, rule: str,
                       index: DatasetIndex | None, split: str, limit: int, seed: int,
                       device: str | torch.device = "cpu") -> list[Target]:
    """For each site with an SAE, `per_site` of its own channels and `per_site` of its SAE's latents, chosen by the
    same rule (the matched sets behind the neurons-against-latents comparison)."""
    sites = list_sites(loaded.model)
    out: list[Target] = []
    for name in sae_sites:
        base, latent = sites.get(name), sites.get(f"{name}{LATENT}")
        if base is None or latent is None:    # a model without this SAE: nothing to compare
            continue
        out += select_targets(loaded, rule, [base.kind, latent.kind], [base.layer], per_site, index=index,
                              split=split, limit=limit, seed=seed, device=device)
    return out


def top_channels(values: torch.Tensor, k: int) -> list[int]:
    """The k largest channels, ties to the lower index."""
    order = torch.sort(values, descending=True, stable=True).indices
    return order[:k].tolist()


def select_targets(loaded: LoadedModel, rule: str, kinds: list[str], layers: list[int] | None, per_layer: int,
                   explicit: dict[str, list[int]] | None = None, index: DatasetIndex | None = None,
                   split: str = "val", limit: int = 100, seed: int = 0,
                   attn_layers: list[int] | None = None, device: str | torch.device = "cpu") -> list[Target]:
    """The targets chosen by `rule` ('explicit', 'top_mean', 'random' or 'all'); top_mean runs on `device`."""
    if rule == "explicit":
        targets = [Target(site, int(f)) for site, feats in (explicit or {}).items() for f in feats]
        for t in targets:
            resolve(loaded.model, t.site, t.feature)
        return targets
    sites = candidate_sites(loaded, kinds, layers, attn_layers)
    if not sites:
        raise ValueError(f"no site of kinds {kinds} at layers {layers} in {loaded.key!r}")
    if rule == "all":
        return [Target(s.name, f) for s in sites for f in range(s.channels)]
    if rule == "random":
        out = []
        for s in sites:
            g = torch.Generator().manual_seed(feature_seed(seed, loaded.key, s.name, -1))
            out += [Target(s.name, int(f)) for f in torch.randperm(s.channels, generator=g)[:per_layer].sort().values]
        return out
    if index is None:
        raise ValueError("rule 'top_mean' needs a prepared dataset index")
    means = mean_activations(loaded, sites, index, split, limit, device=device)
    return [Target(s.name, f) for s in sites for f in top_channels(means[s.name], per_layer)]
