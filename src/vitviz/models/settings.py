"""The params of the models: the zoo (section `models`, one entry per model key) and how each is downloaded or
trained and evaluated (section `download_models`). Defaults are the embedded default's values."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from vitviz.core.settings import Split, Strict, rule_errors

Library = Literal["timm", "open_clip", "torchvision"]
Source = Literal["timm", "open_clip", "torchvision", "file", "url", "train"]
SOURCE_LIBRARY = {"timm": "timm", "open_clip": "open_clip", "torchvision": "torchvision", "train": "timm"}


class PreprocessConfig(Strict):
    """Overrides of the model's data config (timm's names); unset keys come from the model."""
    input_size: int | None = Field(None, ge=8, le=2048)
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    crop_pct: float | None = Field(None, ge=0.1, le=1.0)
    mean: tuple[float, float, float] | None = Field(None, description="per-channel mean, [r, g, b]")
    std: tuple[float, float, float] | None = Field(None, description="per-channel std, [r, g, b]")


class TrainConfig(Strict):
    """Hyperparameters of the demo-model training on the prepared train split."""
    epochs: int = Field(5, ge=1, le=1000)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, ge=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    warmup_epochs: int = Field(1, ge=0)
    label_smoothing: float = Field(0.0, ge=0.0, le=0.9)
    pad: int = Field(4, ge=0, description="random-crop padding, in input pixels")
    clip_grad: float = Field(1.0, ge=0.0, description="max gradient norm; 0 turns clipping off")
    erase_prob: float = Field(0.0, ge=0.0, le=1.0,
                              description="probability of blacking out a random rectangle (occlusion robustness)")
    seed: int = Field(0, ge=0)
    threads: int = Field(1, ge=1, le=256, description="intra-op threads of the training, fixed so that the trained "
                         "weights are the same on every machine (of one instruction set), whatever its cores")


class ModelEntry(Strict):
    """One model of the zoo: where its weights come from and how its input is prepared."""
    source: Source = Field(description="timm, open_clip, torchvision, file, url or train")
    name: str = Field(description="architecture name in its library")
    library: Library | None = Field(None, description="for file/url sources: which library builds the architecture")
    tag: str | None = Field(None, description="pretrained tag (timm tag, open_clip pretrained, torchvision weights)")
    file: str | None = Field(None, description="local checkpoint file")
    url: str | None = None
    sha256: str | None = None
    convert: Literal["lukemelas_vit"] | None = Field(
        None, description="converter of a file/url checkpoint into the library's names")
    kind: Literal["vit", "cnn"] | None = Field(None, description="family for the report; detected when unset")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    train: TrainConfig | None = Field(None, validate_default=True,
                                      description="training recipe; source 'train' only (defaults when unset)")

    @field_validator("train")
    @classmethod
    def _train_default(cls, v: TrainConfig | None, info: ValidationInfo) -> TrainConfig | None:
        return TrainConfig() if v is None and info.data.get("source") == "train" else v

    @property
    def lib(self) -> str:
        """The library that builds the architecture."""
        return self.library or SOURCE_LIBRARY.get(self.source, "")

    @model_validator(mode="after")
    def _source_rules(self) -> ModelEntry:
        errors = []
        if self.source in ("file", "url") and not self.library:
            errors.append((("library",), f"missing; required for source '{self.source}' "
                                         "(allowed: timm, open_clip, torchvision)"))
        if self.source in SOURCE_LIBRARY and self.library and self.library != SOURCE_LIBRARY[self.source]:
            errors.append((("library",), f"{self.library!r} contradicts source {self.source!r}; remove it"))
        if self.source == "file" and not self.file:
            errors.append((("file",), "missing; required for source 'file'"))
        if self.source == "url" and not self.url:
            errors.append((("url",), "missing; required for source 'url'"))
        if self.source != "train" and self.train is not None:
            errors.append((("train",), "only allowed with source 'train'"))
        if self.source == "train" and self.preprocess.input_size is None:
            errors.append((("preprocess", "input_size"), "missing; required for source 'train'"))
        rule_errors("ModelEntry", errors)
        return self


class DownloadConfig(Strict):
    """How the download_models stage evaluates each model it downloaded or trained."""
    eval_split: Split = "val"
    eval_limit: int = Field(0, ge=0, description="images to evaluate on; 0 means all")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="where the reloaded model is evaluated: auto, cpu or cuda[:i]")
    connect_timeout: float = Field(3.0, ge=0.1, le=60.0, description="seconds to wait for the model hub")

