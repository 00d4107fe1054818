"""Model folders: save a model as safetensors plus a spec, and load it back offline with its preprocessing."""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
from torch import nn

from vitviz.models.spec import SPEC_FILE, WEIGHTS_FILE, ModelSpec
from vitviz.models.transforms import eval_transform
from vitviz.core.errors import CheckpointError, ModelMissingError
from vitviz.core.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model in eval mode, its spec, the eval transform that prepares a PIL image for it, and its runtime."""
    model: nn.Module
    spec: ModelSpec
    transform: Callable
    runtime: Runtime = field(default_factory=Runtime)

    @property
    def key(self) -> str:
        return self.spec.key

    def prepare(self, device: str | torch.device) -> nn.Module:
        """The inner module on `device`, prepared by the runtime (attention kernel, memory layout, matmul precision)."""
        return self.runtime.prepare(self.model, device, self.spec.kind)

    def autocast(self, device: str | torch.device):
        """The runtime's autocast context for forwards on `device`."""
        return self.runtime.autocast(device)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (fp32) for a batch of prepared images; only models with a classifier head."""
        if self.spec.num_classes <= 0:
            raise ValueError(f"model {self.key!r} has no classifier head")
        with self.autocast(x.device):
            return self.model(self.runtime.layout(x, self.spec.kind)).float()


def detect_kind(model: nn.Module) -> str:
    """'vit' when the model holds attention blocks, else 'cnn'."""
    return "vit" if any("Attention" in type(m).__name__ for m in model.modules()) else "cnn"


def build_architecture(spec: ModelSpec) -> nn.Module:
    """A randomly initialised model of the spec's architecture, on the CPU."""
    if spec.library == "timm":
        import timm
        return timm.create_model(spec.name, pretrained=False, num_classes=spec.num_classes, **spec.kwargs)
    if spec.library == "torchvision":
        import torchvision
        return torchvision.models.get_model(spec.name, weights=None, num_classes=spec.num_classes, **spec.kwargs)
    if spec.library == "open_clip":
        import open_clip
        return open_clip.create_model(spec.name, pretrained=None, **spec.kwargs)
    raise ValueError(f"unknown library {spec.library!r} in spec of {spec.key!r}")


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a .safetensors or torch checkpoint; an unreadable file raises a one-line CheckpointError."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            return safetensors.torch.load_file(str(path))
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, pickle and zip errors have no common base
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        if "Weights only load failed" in first or "pickle" in first.lower():
            first = "unpickling failed: not a torch checkpoint, or one that holds more than tensors"
        raise CheckpointError(f"{path}: not a readable {'safetensors' if path.suffix == '.safetensors' else 'torch'} "
                              f"checkpoint ({first}); the file is truncated or of another format: fetch it again "
                              "or fix `file:`") from exc
    for k in ("state_dict", "model", "module"):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict):
            sd = sd[k]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors; fix `file:`")
    return sd


def weight_shapes(path: str | Path) -> dict[str, list[int]]:
    """Tensor shapes of a .safetensors file from its header alone (no weights are read)."""
    try:
        with safetensors.safe_open(str(path), "pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({str(exc).strip()[:160]}); "
                              "the file is truncated or of another format: fetch it again") from exc


def fit_error(model: nn.Module, shapes: dict[str, list[int]], name: str, path: str | Path) -> str | None:
    """None when tensors of `shapes` fit `model` exactly, else one line that names the file and the first misfit."""
    want = {k: list(v.shape) for k, v in model.state_dict().items()}
    differ = [k for k in want if k in shapes and shapes[k] != want[k]]
    missing = [k for k in want if k not in shapes]
    extra = [k for k in shapes if k not in want]
    if not (differ or missing or extra):
        return None
    parts = []
    if differ:
        k = differ[0]
        parts.append(f"{len(differ)} tensors differ in shape, first {k} {shapes[k]} vs {want[k]}")
    if missing:
        parts.append(f"{len(missing)} missing, first {missing[0]}")
    if extra:
        parts.append(f"{len(extra)} unexpected, first {extra[0]}")
    return f"{path}: weights do not fit {name}: {'; '.join(parts)}; is `name` (or `convert`) right?"


def load_weights_into(model: nn.Module, sd: dict[str, torch.Tensor], name: str, path: str | Path) -> None:
    """Load a state dict strictly; a misfit raises one CheckpointError line instead of torch's list."""
    err = fit_error(model, {k: list(v.shape) for k, v in sd.items()}, name, path)
    if err:
        raise CheckpointError(err)
    model.load_state_dict(sd, strict=True)


def normalize(x: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """A batch of images in [0, 1] (or uint8 0..255) normalised with the model's mean and std."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x
    mean, std = _mean_std(tuple(spec.mean), tuple(spec.std), x.device, x.dtype)
    return (x - mean) / std


@functools.lru_cache(maxsize=16)
def _mean_std(mean: tuple, std: tuple, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 3, 1, 1) tensors on `device`, made once: a copy to a GPU per batch would stall the host each time."""
    return (torch.tensor(mean, dtype=dtype).view(1, 3, 1, 1).to(device),
            torch.tensor(std, dtype=dtype).view(1, 3, 1, 1).to(device))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: nn.Module, spec: ModelSpec, out_dir: str | Path) -> ModelSpec:
    """Write weights.safetensors and spec.json into `out_dir`; return the spec with the weights' hash."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu()
    safetensors.torch.save_model(model, str(out_dir / WEIGHTS_FILE))
    spec.provenance = {**spec.provenance, "weights_sha256": sha256_file(out_dir / WEIGHTS_FILE)}
    (out_dir / SPEC_FILE).write_text(spec.to_json())
    return spec


def load_model(model_dir: str | Path, device: str | torch.device = "cpu", runtime: Runtime | None = None
               ) -> LoadedModel:
    """Load a model folder offline: eval mode, frozen, with its transform and runtime."""
    model_dir = Path(model_dir)
    spec = ModelSpec.read(model_dir)
    weights = model_dir / WEIGHTS_FILE
    if not weights.exists():
        raise ModelMissingError(f"{weights}: weights missing; model {spec.key!r} was not downloaded or trained yet")
    model = build_architecture(spec)
    shapes = weight_shapes(weights)   # a truncated file fails here, with its name
    try:
        safetensors.torch.load_model(model, str(weights), strict=True)   # handles tensors shared by two names
    except Exception as exc:
        raise CheckpointError(fit_error(model, shapes, spec.name, weights) or
                              f"{weights}: cannot load ({str(exc).strip().splitlines()[0][:160]})") from exc
    loaded = LoadedModel(model.eval().requires_grad_(False), spec, eval_transform(spec), runtime or Runtime())
    loaded.prepare(device)
    return loaded
