"""The typed parameters of every stage, validated from params.yaml before any work starts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .schema import ConfigError, parse_dataclass, rule

Library = Literal["timm", "open_clip", "torchvision"]
Source = Literal["timm", "open_clip", "torchvision", "file", "url", "train"]
SOURCE_LIBRARY = {"timm": "timm", "open_clip": "open_clip", "torchvision": "torchvision", "train": "timm"}


@dataclass
class SyntheticConfig:
    """Sizes and evidence knobs of the synthetic ImageNet look-alike."""
    seed: int = rule(0, min=0)
    classes: int = rule(10, min=2, max=16, help="number of classes; each has its own shape, texture and scene")
    train_per_class: int = rule(100, min=1)
    val_per_class: int = rule(20, min=1)
    image_size: int = rule(80, min=32, max=1024, help="short side of the written images, in pixels")
    aspect_jitter: float = rule(0.25, min=0.0, max=1.0, help="max relative change of the long side")
    object_scale: tuple[float, float] = rule(factory=lambda: (0.45, 0.7))
    background_agreement: float = rule(0.6, min=0.0, max=1.0,
                                       help="probability that the scene is the one tied to the class")
    second_object_prob: float = rule(0.25, min=0.0, max=1.0, help="probability of an object of another class")
    extra_true_object_prob: float = rule(0.1, min=0.0, max=1.0,
                                         help="probability of a second object of the true class")
    train_box_fraction: float = rule(0.6, min=0.0, max=1.0, help="share of train images with a box XML")
    quirk_fraction: float = rule(0.02, min=0.0, max=1.0,
                                 help="share of images stored as CMYK, grayscale or PNG-in-.JPEG")
    jpeg_quality: int = rule(92, min=50, max=100)

    def check(self, key: str, errors: list[str]) -> None:
        s = self.object_scale
        ok = isinstance(s, tuple) and len(s) == 2 and all(isinstance(v, float) for v in s)
        if not (ok and 0.1 <= s[0] <= s[1] <= 0.95):
            errors.append(f"{key}.object_scale: expected [lo, hi] with 0.1 <= lo <= hi <= 0.95, got {s!r}")


@dataclass
class PrepareDataConfig:
    """Where the dataset comes from: the synthetic generator or a user's ImageNet root."""
    source: Literal["synthetic", "imagenet"] = "synthetic"
    imagenet_root: str | None = rule(None, help="root of a real ImageNet (Kaggle or class-folder layout)")
    synthetic: SyntheticConfig = rule(factory=SyntheticConfig)

    def check(self, key: str, errors: list[str]) -> None:
        if self.source == "imagenet" and not self.imagenet_root:
            errors.append(f"{key}.imagenet_root: missing; required when {key}.source is 'imagenet'")


@dataclass
class PreprocessConfig:
    """Overrides of the model's data config (timm's names); unset keys come from the model."""
    input_size: int | None = rule(None, min=8, max=2048)
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    crop_pct: float | None = rule(None, min=0.1, max=1.0)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass
class TrainConfig:
    """Hyperparameters of the demo-model training on the prepared train split."""
    epochs: int = rule(15, min=1, max=1000)
    batch_size: int = rule(64, min=1)
    lr: float = rule(1e-3, min=0.0)
    weight_decay: float = rule(0.05, min=0.0)
    warmup_epochs: int = rule(1, min=0)
    label_smoothing: float = rule(0.1, min=0.0, max=0.9)
    pad: int = rule(4, min=0, help="random-crop padding, in input pixels")
    clip_grad: float = rule(1.0, min=0.0, help="max gradient norm; 0 turns clipping off")
    seed: int = rule(0, min=0)


@dataclass
class ModelEntry:
    """One model of the zoo: where its weights come from and how its input is prepared."""
    source: Source = rule(help="timm, open_clip, torchvision, file, url or train")
    name: str = rule(help="architecture name in its library")
    library: Library | None = rule(None, help="for file/url sources: which library builds the architecture")
    tag: str | None = rule(None, help="pretrained tag (timm tag, open_clip pretrained, torchvision weights)")
    file: str | None = rule(None, help="local checkpoint file")
    url: str | None = None
    sha256: str | None = None
    kind: Literal["vit", "cnn"] | None = rule(None, help="family for the report; detected when unset")
    kwargs: dict[str, Any] = rule(factory=dict)
    preprocess: PreprocessConfig = rule(factory=PreprocessConfig)
    train: TrainConfig | None = None

    @property
    def lib(self) -> str:
        """The library that builds the architecture."""
        return self.library or SOURCE_LIBRARY.get(self.source, "")

    def check(self, key: str, errors: list[str]) -> None:
        if self.source in ("file", "url") and not self.library:
            errors.append(f"{key}.library: missing; required for source '{self.source}' "
                          "(allowed: timm, open_clip, torchvision)")
        if self.source in ("timm", "open_clip", "torchvision", "train") and self.library \
                and self.library != SOURCE_LIBRARY.get(self.source):
            errors.append(f"{key}.library: {self.library!r} contradicts source {self.source!r}; remove it")
        if self.source == "file" and not self.file:
            errors.append(f"{key}.file: missing; required for source 'file'")
        if self.source == "url" and not self.url:
            errors.append(f"{key}.url: missing; required for source 'url'")
        if self.source == "train" and self.train is None:
            self.train = TrainConfig()
        if self.source != "train" and self.train is not None:
            errors.append(f"{key}.train: only allowed with source 'train'")
        if self.source == "train" and self.preprocess.input_size is None:
            errors.append(f"{key}.preprocess.input_size: missing; required for source 'train'")
        if isinstance(self.name, str) and self.lib in SOURCE_LIBRARY.values():
            from .architectures import architecture_error
            msg = architecture_error(self.lib, self.name, self.tag if self.source != "train" else None,
                                     self.source)
            if msg:
                errors.append(f"{key}.name: {msg}")


@dataclass
class DownloadConfig:
    """How each materialised model is evaluated on the prepared data."""
    eval_split: Literal["train", "val"] = "val"
    eval_limit: int = rule(0, min=0, help="images to evaluate on; 0 means all")
    batch_size: int = rule(64, min=1)
    num_workers: int = rule(0, min=0)
    connect_timeout: float = rule(3.0, min=0.1, max=60.0, help="seconds to wait for the model hub")


@dataclass
class ReportConfig:
    """What the generated report shows."""
    title: str = "vitviz: what do vision transformers learn?"
    samples_per_class: int = rule(2, min=1, max=10)


@dataclass
class Params:
    """All parameters of the pipeline, one section per stage."""
    prepare_data: PrepareDataConfig = rule(factory=PrepareDataConfig)
    models: dict[str, ModelEntry] = rule(factory=dict)
    download_models: DownloadConfig = rule(factory=DownloadConfig)
    report: ReportConfig = rule(factory=ReportConfig)

    def check(self, key: str, errors: list[str]) -> None:
        for name in self.models or {}:
            if not name.replace("_", "").replace("-", "").isalnum():
                errors.append(f"models.{name}: a model key may hold only letters, digits, '_' and '-'")
        if not self.models:
            errors.append("models: at least one model is needed")


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    errors: list[str] = []
    params = parse_dataclass(Params, data, "", errors)
    if errors:
        raise ConfigError(errors, source)
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found; run from the project root or pass --params"], str(path))
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"], str(path))
    return parse_params(data, str(path))
