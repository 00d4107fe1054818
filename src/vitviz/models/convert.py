"""Checkpoint converters into timm's VisionTransformer.

`lukemelas_vit`: the PyTorch-Pretrained-ViT checkpoints (B_16/B_32/L_16/L_32_imagenet1k.pth) that the authors
used, with the original Google weights: separate q/k/v projections become timm's fused qkv.
"""
from __future__ import annotations

import re

import torch

_RENAMES = [
    (r"^patch_embedding\.", "patch_embed.proj."),
    (r"^class_token$", "cls_token"),
    (r"^positional_embedding\.pos_embedding$", "pos_embed"),
    (r"^transformer\.blocks\.(\d+)\.proj\.", r"blocks.\1.attn.proj."),
    (r"^transformer\.blocks\.(\d+)\.pwff\.", r"blocks.\1.mlp."),
    (r"^transformer\.blocks\.(\d+)\.(norm[12])\.", r"blocks.\1.\2."),
    (r"^fc\.", "head."),
]


def lukemelas_vit(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A PyTorch-Pretrained-ViT state dict in timm VisionTransformer names."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, val in sd.items():
        m = re.match(r"^transformer\.blocks\.(\d+)\.attn\.proj_([qkv])\.(weight|bias)$", key)
        if m:
            qkv.setdefault((int(m.group(1)), m.group(3)), {})[m.group(2)] = val
            continue
        new = key
        for pat, rep in _RENAMES:
            new = re.sub(pat, rep, new)
        if new == key and not key.startswith("norm."):
            raise KeyError(f"unexpected key {key!r} in a PyTorch-Pretrained-ViT checkpoint")
        out[new] = val
    for (block, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise KeyError(f"block {block}: incomplete q/k/v {kind}")
        out[f"blocks.{block}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


CONVERTERS = {"lukemelas_vit": lukemelas_vit}
