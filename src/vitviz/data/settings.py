"""The params of the dataset stage: the synthetic ImageNet look-alike or a user's ImageNet root (section
`prepare_data`). Defaults are the embedded default's values."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vitviz.core.settings import Strict, rule_errors


class SyntheticConfig(Strict):
    """Sizes and evidence knobs of the synthetic ImageNet look-alike."""
    seed: int = Field(0, ge=0)
    classes: int = Field(10, ge=2, le=16, description="number of classes; each has its own shape, texture and scene")
    train_per_class: int = Field(200, ge=1)
    val_per_class: int = Field(20, ge=1)
    image_size: int = Field(80, ge=32, le=1024, description="short side of the written images, in pixels")
    aspect_jitter: float = Field(0.25, ge=0.0, le=1.0, description="max relative change of the long side")
    object_scale: tuple[Annotated[float, Field(ge=0.1, le=0.95)], Annotated[float, Field(ge=0.1, le=0.95)]] = \
        Field((0.45, 0.7), description="[lo, hi]: range of the object size relative to the image")
    background_agreement: float = Field(0.6, ge=0.0, le=1.0,
                                        description="probability that the scene is the one tied to the class")
    second_object_prob: float = Field(0.25, ge=0.0, le=1.0, description="probability of an object of another class")
    extra_true_object_prob: float = Field(0.1, ge=0.0, le=1.0,
                                          description="probability of a second object of the true class")
    train_box_fraction: float = Field(0.6, ge=0.0, le=1.0, description="share of train images with a box XML")
    quirk_fraction: float = Field(0.02, ge=0.0, le=1.0,
                                  description="share of images stored as CMYK, grayscale or PNG-in-.JPEG")
    jpeg_quality: int = Field(92, ge=50, le=100)

    @model_validator(mode="after")
    def _scale_ordered(self) -> SyntheticConfig:
        lo, hi = self.object_scale
        if lo > hi:
            rule_errors("SyntheticConfig", [(("object_scale",), f"expected [lo, hi] with lo <= hi, got {[lo, hi]}")])
        return self


class PrepareDataConfig(Strict):
    """Where the dataset comes from: the synthetic generator or a user's ImageNet root."""
    source: Literal["synthetic", "imagenet"] = "synthetic"
    imagenet_root: str | None = Field(None, description="root of a real ImageNet (Kaggle or class-folder layout)")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _root_given(self) -> PrepareDataConfig:
        if self.source == "imagenet" and not self.imagenet_root:
            rule_errors("PrepareDataConfig", [(("imagenet_root",), "missing; required when source is 'imagenet'")])
        return self
