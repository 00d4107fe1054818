"""The JSON spec stored beside each model's weights: architecture, preprocessing, classes, provenance."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitviz.core.errors import ModelMissingError

SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.safetensors"
METRICS_FILE = "metrics.json"            # its evaluation by the download_models stage
HISTORY_FILE = "train_history.csv"       # a demo model's training curve


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model offline and feed it correctly prepared images."""
    key: str
    library: str                    # timm | open_clip | torchvision
    name: str                       # architecture name in that library
    kwargs: dict[str, Any] = field(default_factory=dict)
    kind: str = "vit"               # vit | cnn | clip
    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop_pct: float = 0.875
    crop_mode: str = "center"
    num_classes: int = 0            # 0: no classifier head (open_clip towers)
    class_wnids: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def data_config(self) -> dict[str, Any]:
        """timm-style data config of this model."""
        return {"input_size": tuple(self.input_size), "interpolation": self.interpolation,
                "mean": tuple(self.mean), "std": tuple(self.std), "crop_pct": self.crop_pct,
                "crop_mode": self.crop_mode}

    def to_json(self) -> str:
        """The spec as pretty JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        """A spec from its JSON mapping; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        for k in ("input_size", "mean", "std"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def read(cls, model_dir: str | Path) -> "ModelSpec":
        """The spec stored in a model folder."""
        path = Path(model_dir) / SPEC_FILE
        if not path.exists():
            raise ModelMissingError(f"{path}: no model spec; this model was not downloaded or trained yet")
        return cls.from_dict(json.loads(path.read_text()))
