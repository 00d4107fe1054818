"""Offline checks of the sites, features, layers and kinds that params name, against each model's architecture
built on the meta device (no weights, no memory, no network). The sites of an architecture are kept in the disk
cache (core.disk_cache), keyed by the model entry, the library versions and the source of the site code."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from vitviz.activations.kinds import KINDS, LATENT
from vitviz.core.disk_cache import cached, source_hash
from vitviz.core.errors import ConfigError, SiteError
from vitviz.models.registry import library_key, model_error

if TYPE_CHECKING:
    from torch import nn

    from vitviz.models.settings import ModelEntry
    from vitviz.pipeline.params import Params

SITE_CODE = ("vitviz.activations.sites", "vitviz.activations.kinds", "vitviz.pipeline.site_check")


class SiteShape(NamedTuple):
    """What the checks need of a site: its name, kind, layer and channel count."""
    name: str
    kind: str
    layer: int
    channels: int


def meta_architecture(entry: ModelEntry) -> nn.Module:
    """The entry's architecture on the meta device (shapes only, no memory, no weights)."""
    import torch
    with torch.device("meta"):
        if entry.lib == "timm":
            import timm
            return timm.create_model(entry.name, pretrained=False, **entry.kwargs)
        if entry.lib == "torchvision":
            import torchvision
            return torchvision.models.get_model(entry.name, weights=None, **entry.kwargs)
        if entry.lib == "open_clip":
            import open_clip
            return open_clip.create_model(entry.name, pretrained=None, device="meta", **entry.kwargs)
    raise ValueError(f"unknown library {entry.lib!r}")


def architecture_sites(entry: ModelEntry) -> dict[str, SiteShape]:
    """The sites of the entry's architecture (built on the meta device on a cache miss); raises what building or
    listing raises."""
    def compute() -> list[list]:
        from vitviz.activations.sites import list_sites
        return [[s.name, s.kind, s.layer, s.channels] for s in list_sites(meta_architecture(entry)).values()]

    key = {**library_key(entry.lib), "entry": entry.model_dump(mode="json"), "code": source_hash(*SITE_CODE)}
    return {row[0]: SiteShape(*row) for row in cached("sites", key, compute)}


@dataclass
class SiteReport:
    """What the site check found: one line per bad key path, and one note per model it could not check."""
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _runs(layers: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(layers):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def describe_sites(sites: dict[str, SiteShape]) -> str:
    """The sites as compact ranges per kind, e.g. 'blocks.0.ffn .. blocks.5.ffn, blocks.0.attn.in .. ...'."""
    parts = []
    for kind in KINDS:
        layers = [s.layer for s in sites.values() if s.kind == kind]
        for a, b in _runs(layers):
            parts.append(f"blocks.{a}.{kind}" if a == b else f"blocks.{a}.{kind} .. blocks.{b}.{kind}")
    return ", ".join(parts)


def _range(lo: int, hi: int) -> str:
    return f"{lo}..{hi}"


def feature_errors(path: str, features: dict[str, list[int]], sites: dict[str, SiteShape], key: str,
                   whose: str = "") -> list[str]:
    """One line per site of `features` that the model lacks, and per feature out of its site's channels."""
    out = []
    for name, feats in features.items():
        site = sites.get(name)
        if site is None:
            close = difflib.get_close_matches(name, list(sites), n=1)
            out.append(f"{path}.{name}: no such site in {key}; have {describe_sites(sites)}"
                       + (f" (close: {close[0]})" if close else ""))
            continue
        for i, f in enumerate(feats):
            if not 0 <= f < site.channels:
                out.append(f"{path}.{name}[{i}]: feature {f} is out of range{whose}; allowed "
                           f"{_range(0, site.channels - 1)}")
    return out


def _layer_errors(path: str, layers: list[int] | None, sites: dict[str, SiteShape], kinds: list[str], key: str) -> list[str]:
    if layers is None:
        return []
    have = sorted({s.layer for s in sites.values() if s.kind in kinds})
    return [f"{path}[{i}]: layer {n} is out of range for {key}; allowed {describe_layers(have)}"
            for i, n in enumerate(layers) if n not in have]


def describe_layers(layers: list[int]) -> str:
    """Layers as ranges, e.g. '0..5' or '0..3, 6'."""
    return ", ".join(str(a) if a == b else _range(a, b) for a, b in _runs(layers)) or "none"


def _kind_errors(path: str, kinds: list[str], sites: dict[str, SiteShape], key: str, latents: bool) -> list[str]:
    """One line per kind the model lacks; latent kinds count only when `latents` (a model with SAEs whose kinds
    are checked strictly), else they are skipped (mining takes the latent kinds there are)."""
    have = [k for k in KINDS if any(s.kind == k for s in sites.values())]
    return [f"{path}[{i}]: {key} has no {k} sites; it has {', '.join(have)}"
            for i, k in enumerate(kinds) if k not in have and (latents or not k.endswith(LATENT))]


def check_sites(params: Params) -> SiteReport:
    """Every site, feature, layer and kind that `optimize_features` and `mine_exemplars` name, checked against the
    architecture of each model they use; what cannot be built offline is a note, not an error."""
    opt, mine = params.optimize_features, params.mine_exemplars
    sel = opt.select
    report = SiteReport()
    used = list(dict.fromkeys([*opt.models, *mine.models, *opt.per_model, *params.sae.models]))
    for key in used:
        entry = params.models.get(key)
        if entry is None or model_error(entry) is not None:
            continue  # the params schema or check_models already has a line for it
        try:
            arch = sites = architecture_sites(entry)
        except SiteError as exc:
            for section in ("optimize_features", "mine_exemplars"):
                models = getattr(params, section).models
                if key in models:
                    report.errors.append(f"{section}.models[{models.index(key)}]: {key} has no sites ({exc})")
            continue
        except Exception as exc:  # any library's failure to build offline: say so, never guess
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            report.notes.append(f"sites of {key} not checked: cannot build {entry.lib}:{entry.name} offline ({msg})")
            continue
        if key in params.sae.models:       # the latents of its SAEs are sites too, once train_sae has run
            sites = {**sites, **latent_shapes(params, sites)}
        over = opt.per_model.get(key)
        if over is not None and over.features:
            report.errors += feature_errors(f"optimize_features.per_model.{key}.features", over.features, sites, key)
        if key in opt.models:
            if not (over is not None and over.features):
                report.errors += feature_errors("optimize_features.select.explicit", sel.explicit, sites, key,
                                                 f" for {key}")
            if sel.rule != "explicit":
                report.errors += _kind_errors("optimize_features.select.kinds", list(sel.kinds), sites, key,
                                              key in params.sae.models)
                attn = [k for k in sel.kinds if k != "ffn"]
                ffn_kinds = list(sel.kinds) if sel.attn_layers is None else [k for k in sel.kinds if k == "ffn"]
                if ffn_kinds:
                    report.errors += _layer_errors("optimize_features.select.layers", sel.layers, sites, ffn_kinds, key)
                if attn:
                    report.errors += _layer_errors("optimize_features.select.attn_layers", sel.attn_layers, sites,
                                                   attn, key)
        if key in mine.models:
            report.errors += _kind_errors("mine_exemplars.kinds", list(mine.kinds), sites, key, False)
        if key in params.sae.models:
            report.errors += sae_errors(params, arch, key)
    return report


def latent_shapes(params: Params, sites: dict[str, SiteShape]) -> dict[str, SiteShape]:
    """The latent sites (`<site>.sae`) that the SAEs of `sae.sites` will add to a model with these sites."""
    out = {}
    for name in params.sae.sites:
        base = sites.get(name)
        if base is not None and not base.kind.endswith(LATENT):
            out[f"{name}{LATENT}"] = SiteShape(f"{name}{LATENT}", f"{base.kind}{LATENT}", base.layer,
                                               params.sae.train.width(base.channels))
    return out


def sae_errors(params: Params, sites: dict[str, SiteShape], key: str) -> list[str]:
    """One line per SAE site of `sae.sites` that model `key` lacks, and per site too narrow for the SAE's k."""
    out = []
    for i, name in enumerate(params.sae.sites):
        if name not in sites:
            close = difflib.get_close_matches(name, list(sites), n=1)
            out.append(f"sae.sites[{i}]: no such site in {key}; have {describe_sites(sites)}"
                       + (f" (close: {close[0]})" if close else ""))
            continue
        try:
            params.sae.train.check(sites[name].channels, f"sae.train (site {name} of {key})")
        except ConfigError as exc:
            out += exc.errors
    return out


def check_models(params: Params) -> list[str]:
    """One line per model whose name or tag its library does not know; imports them."""
    return [f"models.{key}.name: {msg}" for key, e in params.models.items() if (msg := model_error(e))]
