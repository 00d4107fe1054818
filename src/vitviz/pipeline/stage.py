"""The preamble of a per-model stage script: its arguments, its own params sections, device, model and dataset
index."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch

from vitviz.core.distributed import local_device
from vitviz.core.runtime import Runtime
from vitviz.core.settings import read_sections
from vitviz.core.threads import register
from vitviz.data.imagenet import DatasetIndex, read_index
from vitviz.core.errors import ModelMissingError
from vitviz.models.store import LoadedModel, load_model
from vitviz.pipeline.args import stage_args


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


def stage_sections(params_file: str, sections: dict[str, Any]) -> dict[str, Any]:
    """The params sections a stage reads (validated alone), with `speed.threads` applied where `speed` is one."""
    params = read_sections(params_file, sections)
    if "speed" in params:
        register(params["speed"].threads)
    return params


def model_stage(description: str, out_default: str, section: str, section_type: Any,
                more: dict[str, Any] | None = None) -> ModelStage:
    """The arguments, the params section (and the `more` sections), device, model and dataset index of a per-model
    stage; only the sections named are read and validated."""
    args = stage_args(description, out_default)
    params = stage_sections(args.params, {section: section_type, "speed": Runtime, **(more or {})})
    cfg = params[section]
    device = local_device(getattr(cfg, "device", "auto"))
    try:
        loaded = load_model(f"{args.data}/models/{args.key}", device, params["speed"])
    except ModelMissingError as exc:
        raise ModelMissingError(f"{exc}; {make_model_hint(args.key)}") from None
    return ModelStage(args, cfg, device, loaded, read_index(f"{args.data}/dataset"), params)
