"""The preamble of a per-model stage script: its arguments, params section, device, model and dataset index."""
from __future__ import annotations

from vitviz.core.config import load_params
from vitviz.core.distributed import local_device
from vitviz.core.runner import model_stage_args
from vitviz.data.imagenet import read_index
from vitviz.models.store import load_model


def model_stage(description: str, out_default: str, section: str):
    """Arguments, the params section, device, model and dataset index of a per-model stage script."""
    args = model_stage_args(description, out_default)
    params = load_params(args.params)
    cfg = getattr(params, section)
    device = local_device(cfg.device)
    loaded = load_model(f"{args.data}/models/{args.key}", device, params.speed)
    return args, cfg, device, loaded, read_index(f"{args.data}/dataset")
