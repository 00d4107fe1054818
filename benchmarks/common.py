"""What the benchmarks share: random-weight timm models (speed does not depend on weights), a synthetic
dataset written in ImageNet's layout, and a timer that waits for the GPU."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import timm
import torch

from vitviz.data.settings import PrepareDataConfig, SyntheticConfig
from vitviz.data.imagenet import DatasetIndex, read_index
from vitviz.models.spec import ModelSpec
from vitviz.data.prepare import prepare_dataset
from vitviz.core.runtime import Runtime
from vitviz.models.store import LoadedModel, detect_kind
from vitviz.models.transforms import eval_transform

DEMO_VIT = {"img_size": 64, "patch_size": 8, "embed_dim": 128, "depth": 6, "num_heads": 4}


def random_loaded(name: str, size: int, wnids: list[str] | None = None, runtime: Runtime | None = None,
                  **kw) -> LoadedModel:
    """A timm model with random weights, its classes named after `wnids` (padded to its head size)."""
    model = timm.create_model(name, pretrained=False, **kw).eval().requires_grad_(False)
    classes = getattr(model, "num_classes", 0)
    names = list(wnids or [])[:classes] + [f"n{i:08d}" for i in range(classes - len(wnids or []))]
    spec = ModelSpec(key=name, library="timm", name=name, kwargs=kw, kind=detect_kind(model),
                     input_size=(3, size, size), crop_pct=1.0 if size < 224 else 0.875, num_classes=classes,
                     class_wnids=names)
    return LoadedModel(model, spec, eval_transform(spec), runtime or Runtime())


def synthetic_index(out: Path, image_size: int = 80, val_per_class: int = 40, classes: int = 10) -> DatasetIndex:
    """A synthetic ImageNet look-alike (val split sized for timing) written under `out` and indexed."""
    prepare_dataset(PrepareDataConfig(synthetic=SyntheticConfig(classes=classes, train_per_class=1,
                                                                val_per_class=val_per_class,
                                                                image_size=image_size)), out)
    return read_index(out)


def seconds(fn: Callable[[], object], device: torch.device) -> float:
    """Wall time of fn(), waiting for the GPU's queued work when there is one."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0
