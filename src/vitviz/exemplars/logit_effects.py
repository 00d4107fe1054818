"""Direct logit attribution of features: the classes whose logits a feature's output direction raises and lowers
most through the rest of the network's linear path.

A feature writes `value x direction` into the residual stream: an FFN channel f its output weight column
fc2[:, f] (times the block's layer scale, if any); an SAE latent on the residual stream its decoder atom; a
latent of an SAE on the FFN activation its atom through fc2. The direct effect on the logits is
W_head (gamma * (direction - mean(direction))): the final LayerNorm linearised (its centring and its scale gamma;
its division by the token's standard deviation is taken as 1, so only the ranking and the relative sizes mean
something), every later block skipped. Only timm ViTs with a final LayerNorm and a linear head have that path.
"""
from __future__ import annotations

import torch
from torch import nn

from vitviz.activations.kinds import LATENT
from vitviz.activations.sites import SAE_MODULE, Site
from vitviz.data.imagenet import first_synonym

TOP = 5


def head_path(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | str:
    """(gamma (D,), head weight (classes, D)) of a timm ViT's final norm and head, or why there is no such path."""
    head = getattr(model, "head", None)
    if type(model).__name__ != "VisionTransformer" or not isinstance(head, nn.Linear):
        return "the model has no single linear classifier head after a final LayerNorm (a timm ViT's norm + head)"
    norms = [n for n in (getattr(model, "norm", None), getattr(model, "fc_norm", None)) if isinstance(n, nn.LayerNorm)]
    if len(norms) != 1 or norms[0].weight is None:
        return "the model's head is not preceded by exactly one affine LayerNorm"
    return norms[0].weight.detach().float(), head.weight.detach().float()


def _fc2(model: nn.Module, ffn: Site) -> torch.Tensor | None:
    """(C, D): an FFN site's output directions, or None when the FFN's output is not linear in its activation."""
    mods = dict(model.named_modules())
    mlp = mods.get(ffn.module.rsplit(".", 1)[0])
    fc2 = getattr(mlp, "fc2", None)
    if not isinstance(fc2, nn.Linear) or not isinstance(getattr(mlp, "norm", nn.Identity()), nn.Identity):
        return None
    w = fc2.weight.detach().float().t()
    ls = getattr(mods.get(ffn.block), "ls2", None)
    return w * ls.gamma.detach().float() if hasattr(ls, "gamma") else w


def output_directions(model: nn.Module, site: Site, sites: dict[str, Site]) -> torch.Tensor | None:
    """(channels, D): what each feature of `site` adds to the residual stream per unit of activation, or None."""
    if site.kind == "ffn":
        return _fc2(model, site)
    if site.kind in (f"resid{LATENT}", f"ffn{LATENT}"):
        base = sites[site.name[:-len(LATENT)]]
        sae = getattr(model, SAE_MODULE)[base.name.replace(".", "__")]
        atoms = sae.dictionary.float()
        if site.kind == f"resid{LATENT}":
            return atoms
        fc2 = _fc2(model, base)
        return None if fc2 is None else atoms @ fc2
    return None


@torch.no_grad()
def logit_effects(model: nn.Module, sites: list[Site], all_sites: dict[str, Site], top: int = TOP
                  ) -> tuple[dict[str, dict[str, torch.Tensor]], str]:
    """Per site with a direct path: `up`/`down` (channels, top) class indices raised/lowered most and `up_value`/
    `down_value` their effects; and a note of what was skipped and why ('' when nothing was)."""
    path = head_path(model)
    if isinstance(path, str):
        return {}, f"no direct logit attribution: {path}"
    gamma, w_head = path
    out, skipped = {}, []
    for s in sites:
        d = output_directions(model, s, all_sites)
        if d is None:
            skipped.append(s.kind)
            continue
        eff = ((d - d.mean(dim=1, keepdim=True)) * gamma.to(d.device)) @ w_head.to(d.device).t()   # (C, classes)
        n = min(top, eff.shape[1])
        up, down = eff.topk(n, dim=1), eff.topk(n, dim=1, largest=False)
        out[s.name] = {"up": up.indices.cpu(), "up_value": up.values.cpu(), "down": down.indices.cpu(),
                       "down_value": down.values.cpu()}
    kinds = sorted(set(skipped))
    note = (f"no direct logit attribution for {', '.join(kinds)}: their output does not reach the residual stream "
            "linearly (only FFN channels and latents of SAEs on the residual stream or the FFN do)") if kinds else ""
    return out, note


def head_classes(class_wnids: list[str], class_names: list[str], num_classes: int, wnids: list[str],
                 short_names: list[str]) -> list[str]:
    """A name per output of the head: the model's own class names (first synonym), else the dataset's name of each
    output's wnid, else the dataset's classes in order, else 'class i'."""
    if class_names:
        return [first_synonym(n) for n in class_names]
    by_wnid = dict(zip(wnids, short_names))
    if class_wnids:
        return [by_wnid.get(w, w) for w in class_wnids]
    return [short_names[i] if i < len(short_names) else f"class {i}" for i in range(num_classes)]
