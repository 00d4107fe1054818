"""Hookable activations of a vision transformer, by stable dotted name, for every supported family.

Names are `blocks.<l>.<kind>`, with l the block index counted over all stages in execution order and kind:
  ffn      the FFN activation output (GELU; QuickGELU for OpenAI-CLIP weights), the paper's features
  attn.in  the attention's input (the output of the block's first norm)
  attn.q, attn.k, attn.v   queries, keys and values before the split into heads: channel f belongs to head
           f // head_dim, and is dimension f % head_dim of that head.
Families: timm VisionTransformer and DeiT (also distilled, with two prefix tokens, and register tokens),
Swin, PiT, CoaT, ConViT, Twins, and open_clip visual towers. Prefix tokens (CLS, distillation, registers) are
told apart from patch tokens; for hierarchical models the patch tokens are the spatial positions of the stage.
Sites without a row-major patch grid have spatial=False (no activation map): Swin's and Twins' windowed
attention, Twins' sub-sampled global keys and values (e.g. 49 tokens at a 196-token stage), and CoaT's
parallel blocks, whose one MLP runs on the concatenated tokens of three scales, so that their mean over patch
tokens weights each scale by its token count (about 76% on the 28 x 28 scale for CoaT's 28/14/7 grids).
CoaT's parallel blocks run three attentions, one per scale, each with its own norm and qkv weights (timm's
norm12/13/14 and factoratt_crpe2/3/4), so channel f of one scale's q is a different feature from channel f of
another's and the three cannot be pooled into one site. Their attn.in/q/k/v sites are those of the finest
scale (norm12, factoratt_crpe2: the 28 x 28 grid at 224 px, the scale that dominates the FFN's mean), with a
row-major grid and the CLS prefix (spatial=True); the 14 x 14 and 7 x 7 attentions are not exposed.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from vitviz.activations.kinds import KINDS, LATENT
from vitviz.core.errors import SiteError  # noqa: F401 (re-exported)



@dataclass
class Site:
    """One hookable activation: where to hook, how to read its tokens, and how many channels it has."""
    name: str
    kind: str
    layer: int
    module: str                      # module whose forward output is hooked
    block: str                       # the block that holds it (the forward may stop after it)
    channels: int
    prefix: int = 0                  # prefix tokens at the start of each call's sequence
    channel_slice: tuple[int, int] | None = None   # part of a fused output (qkv, kv, qk)
    project: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)
    heads: int | None = None
    spatial: bool = True             # patch tokens in row-major grid order (false: windowed or multi-scale)
    objective_project: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    @property
    def head_dim(self) -> int | None:
        return self.channels // self.heads if self.heads else None

    def head_of(self, feature: int) -> int | None:
        """The attention head a q/k/v channel belongs to."""
        return feature // self.head_dim if self.heads else None

    def patch_tokens(self, outputs: list[torch.Tensor], batch: int, objective: bool = False,
                     prefix: bool = False) -> torch.Tensor:
        """(batch, tokens, channels) of patch tokens (with the prefix tokens too if `prefix`) from the hooked outputs
        of one forward; `objective` reads what visualisation maximises (an SAE latent's pre-activation)."""
        project = self.objective_project if objective and self.objective_project is not None else self.project
        parts = []
        for out in outputs:
            if isinstance(out, (tuple, list)):
                out = out[0]
            x = out.reshape(batch, -1, out.shape[-1])
            if project is not None:
                x = project(x)
            if self.channel_slice is not None:
                x = x[..., self.channel_slice[0]:self.channel_slice[1]]
            parts.append(x if prefix else x[:, self.prefix:])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def _family(model: nn.Module) -> str:
    cls = type(model).__name__
    mod = type(model).__module__
    if mod.startswith("open_clip"):
        return "open_clip"
    if mod.startswith("timm"):
        return cls
    raise SiteError(f"{cls} ({mod}) is not a supported family; supported: timm ViT/DeiT, Swin, PiT, CoaT, "
                    "ConViT, Twins and open_clip visual towers")


def _attn_sites(layer: int, block_path: str, attn_path: str, attn: nn.Module, prefix: int) -> list[Site]:
    heads = getattr(attn, "num_heads", None)
    out = []
    if hasattr(attn, "qkv") and isinstance(attn.qkv, nn.Linear):
        d = attn.qkv.out_features // 3
        for i, k in enumerate(("q", "k", "v")):
            out.append(Site(f"blocks.{layer}.attn.{k}", f"attn.{k}", layer, f"{attn_path}.qkv", block_path, d,
                            prefix, (i * d, (i + 1) * d), heads=heads))
    elif hasattr(attn, "q") and hasattr(attn, "kv"):  # Twins global sub-sampled attention
        d = attn.q.out_features
        out.append(Site(f"blocks.{layer}.attn.q", "attn.q", layer, f"{attn_path}.q", block_path, d, prefix,
                        heads=heads))
        sub_sampled = getattr(attn, "sr", None) is not None  # k/v on a coarser grid than the block's tokens
        for i, k in enumerate(("k", "v")):
            out.append(Site(f"blocks.{layer}.attn.{k}", f"attn.{k}", layer, f"{attn_path}.kv", block_path, d,
                            prefix, (i * d, (i + 1) * d), heads=heads, spatial=not sub_sampled))
    elif hasattr(attn, "qk") and hasattr(attn, "v"):  # ConViT gated positional self-attention
        d = attn.v.out_features
        for i, k in enumerate(("q", "k")):
            out.append(Site(f"blocks.{layer}.attn.{k}", f"attn.{k}", layer, f"{attn_path}.qk", block_path, d,
                            prefix, (i * d, (i + 1) * d), heads=heads))
        out.append(Site(f"blocks.{layer}.attn.v", "attn.v", layer, f"{attn_path}.v", block_path, d, prefix,
                        heads=heads))
    return out


def _timm_sites(model: nn.Module, family: str) -> list[Site]:
    modules = dict(model.named_modules())
    acts = [n for n, m in modules.items() if n.endswith((".mlp.act", ".mlp2.act"))]
    if not acts:
        raise SiteError(f"{family}: no transformer FFN found; supported: timm ViT/DeiT, Swin, PiT, CoaT, ConViT, "
                        "Twins and open_clip visual towers")
    sites: list[Site] = []
    for layer, act_path in enumerate(acts):
        block_path = act_path.rsplit(".", 2)[0]
        block = modules[block_path]
        prefix = _timm_prefix(model, family, block_path, layer)
        fc1 = modules[act_path.rsplit(".", 1)[0] + ".fc1"]
        multi_scale = act_path.endswith(".mlp2.act")  # CoaT parallel blocks: one MLP over three scales
        sites.append(Site(f"blocks.{layer}.ffn", "ffn", layer, act_path, block_path, fc1.out_features, prefix,
                          spatial=not multi_scale))
        # CoaT parallel blocks: the finest scale's attention (norm12, factoratt_crpe2), see the module docstring
        norm_name, attn_names = ("norm12", ("factoratt_crpe2",)) if multi_scale else ("norm1",
                                                                                     ("attn", "factoratt_crpe"))
        norm = getattr(block, norm_name, None)
        attn_name = next((a for a in attn_names if hasattr(block, a)), None)
        if norm is not None and attn_name is not None:
            dim = fc1.in_features
            sites.append(Site(f"blocks.{layer}.attn.in", "attn.in", layer, f"{block_path}.{norm_name}", block_path,
                              dim, prefix))
            attn_sites = _attn_sites(layer, block_path, f"{block_path}.{attn_name}", getattr(block, attn_name), prefix)
            windowed = family == "SwinTransformer" or type(getattr(block, attn_name)).__name__ == "LocallyGroupedAttn"
            for a in attn_sites:
                a.spatial = a.spatial and not windowed  # window-partitioned token order, or a sub-sampled grid
            sites += attn_sites
        if not multi_scale:   # CoaT's parallel blocks return three scales: no one residual stream
            sites.append(Site(f"blocks.{layer}.resid", "resid", layer, block_path, block_path, fc1.in_features,
                              prefix))
    return sites


def _timm_prefix(model: nn.Module, family: str, block_path: str, layer: int) -> int:
    if family in ("VisionTransformer", "VisionTransformerDistilled", "Eva"):
        return int(getattr(model, "num_prefix_tokens", 1))
    if family == "ConVit":
        return 0 if layer < model.local_up_to_layer else 1
    if family == "PoolingVisionTransformer":
        return int(model.cls_token.shape[1])
    if family == "CoaT":
        return 1
    return 0  # Swin, Twins: no prefix tokens


def _in_proj(attn: nn.Module, i: int, d: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Part i (q, k or v) of nn.MultiheadAttention's input projection, read from the live weights at call time
    (so it follows the model across devices and dtypes)."""
    def project(x: torch.Tensor) -> torch.Tensor:
        w = attn.in_proj_weight[i * d:(i + 1) * d]
        b = attn.in_proj_bias[i * d:(i + 1) * d] if attn.in_proj_bias is not None else None
        return nn.functional.linear(x.to(w.dtype), w, b)  # a bf16 input recorded under autocast, read outside it
    return project


def _open_clip_sites(model: nn.Module) -> list[Site]:
    visual = getattr(model, "visual", model)
    prefix_path = "visual." if visual is not model else ""
    tr = getattr(visual, "transformer", None)
    if tr is None or not hasattr(tr, "resblocks"):
        raise SiteError("open_clip model without a ViT visual tower (ResNet CLIP towers have no FFN tokens)")
    if not getattr(tr, "batch_first", True):
        raise SiteError("open_clip transformer is sequence-first; this version of open_clip is not supported")
    sites = []
    for layer, blk in enumerate(tr.resblocks):
        base = f"{prefix_path}transformer.resblocks.{layer}"
        hidden = blk.mlp.c_fc.out_features
        sites.append(Site(f"blocks.{layer}.ffn", "ffn", layer, f"{base}.mlp.gelu", base, hidden, 1))
        d = blk.ln_1.normalized_shape[0]
        sites.append(Site(f"blocks.{layer}.attn.in", "attn.in", layer, f"{base}.ln_1", base, d, 1))
        attn = blk.attn
        for i, k in enumerate(("q", "k", "v")):
            sites.append(Site(f"blocks.{layer}.attn.{k}", f"attn.{k}", layer, f"{base}.ln_1", base, d, 1,
                              project=_in_proj(attn, i, d), heads=attn.num_heads))
        sites.append(Site(f"blocks.{layer}.resid", "resid", layer, base, base, d, 1))
    return sites


SAE_MODULE = "vitviz_saes"     # where attach_saes keeps a model's sparse autoencoders (a submodule: .to() moves them)


def latent_site(base: Site, sae: nn.Module) -> Site:
    """The site of an SAE's latents on `base`: the encoder applied to each token of the hooked activation (sparse
    codes); visualisation maximises the latent's pre-activation instead, whose gradient is never zero."""
    return Site(f"{base.name}{LATENT}", f"{base.kind}{LATENT}", base.layer, base.module, base.block, int(sae.width),
                base.prefix, project=sae.encode, spatial=base.spatial, objective_project=sae.encode_pre)


def attach_saes(model: nn.Module, saes: dict[str, nn.Module]) -> None:
    """Give the model SAEs, by the name of the site each was trained on: list_sites then lists their latents."""
    holder = getattr(model, SAE_MODULE, None)
    if holder is None:
        holder = nn.ModuleDict()
        model.add_module(SAE_MODULE, holder)
    for site, sae in saes.items():
        holder[site.replace(".", "__")] = sae


def list_sites(model: nn.Module) -> dict[str, Site]:
    """Every site of the model, by name, in execution order; then the latents of the SAEs attached to it."""
    family = _family(model)
    sites = _open_clip_sites(model) if family == "open_clip" else _timm_sites(model, family)
    out = {s.name: s for s in sites}
    for key, sae in getattr(model, SAE_MODULE, {}).items():
        base = out[key.replace("__", ".")]
        out[f"{base.name}{LATENT}"] = latent_site(base, sae)
    return out


def resolve(model: nn.Module, name: str, feature: int | None = None) -> Site:
    """The site called `name` (also accepted: 'ffn' or 'attn.q' with a layer as `blocks.<l>.<kind>`)."""
    sites = list_sites(model)
    if name not in sites:
        close = difflib.get_close_matches(name, list(sites), n=3)
        layers = max(s.layer for s in sites.values()) + 1
        raise SiteError(f"unknown site {name!r}; valid: blocks.<l>.<kind> with l in 0..{layers - 1} and kind in "
                        f"{', '.join(sorted({s.kind for s in sites.values()}, key=KINDS.index))}"
                        + (f" (close: {', '.join(close)})" if close else ""))
    site = sites[name]
    if feature is not None and not 0 <= feature < site.channels:
        raise SiteError(f"feature {feature} out of range for site {name!r}; valid: 0..{site.channels - 1}")
    return site
