"""The preamble of a per-model stage script: its arguments, its own params sections, device, model and dataset
index."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vitviz.activations.sites import attach_saes
from vitviz.core.distributed import local_device
from vitviz.core.runtime import Runtime
from vitviz.core.settings import read_sections
from vitviz.core.threads import register
from vitviz.data.imagenet import DatasetIndex, read_index
from vitviz.core.errors import ModelMissingError
from vitviz.models.store import LoadedModel, load_model
from vitviz.pipeline.args import stage_args
from vitviz.sae.store import load_saes


def make_model_hint(key: str) -> str:
    """What makes the model folder of `key`: its download_models stage."""
    return f"make it with `dvc repro download_models@{key}` (it fetches or trains the model)"


@dataclass
class ModelStage:
    """What a per-model stage starts from."""
    args: argparse.Namespace
    cfg: Any                   # the stage's params section
    device: torch.device
    loaded: LoadedModel
    index: DatasetIndex
    params: dict[str, Any]     # every section read, by name


def model_stage(description: str, out_default: str, section: str, section_type: Any,
                more: dict[str, Any] | None = None, saes: bool = False) -> ModelStage:
    """The arguments, the params section (and the `more` sections), device, model and dataset index of a per-model
    stage; only the sections named are read and validated. With `saes`, the model's sparse autoencoders
    (`<data>/sae/<key>`, where the train_sae stage wrote them) are attached, so its sites include their latents."""
    args = stage_args(description, out_default)
    params = read_sections(args.params, {section: section_type, "speed": Runtime, **(more or {})})
    register(params["speed"].threads)
    cfg = params[section]
    device = local_device(getattr(cfg, "device", "auto"))
    try:
        loaded = load_model(f"{args.data}/models/{args.key}", device, params["speed"])
    except ModelMissingError as exc:
        raise ModelMissingError(f"{exc}; {make_model_hint(args.key)}") from None
    sae_dir = Path(args.data) / "sae" / args.key
    if saes and sae_dir.is_dir():
        attach_saes(loaded.model, load_saes(sae_dir, device))
    return ModelStage(args, cfg, device, loaded, read_index(f"{args.data}/dataset"), params)
