"""The params of the robustness evaluations: masking (section `mask_eval`) and low-pass filtering (section
`lowpass_eval`). Defaults are the embedded default's values."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vitviz.core.settings import Split, Strict


class MaskEvalConfig(Strict):
    """Section `mask_eval`: foreground/background masking (paper section 5)."""
    models: list[str] = Field(default_factory=list)
    split: Split = Field("val", description="train as in the paper, or val")
    fill: Literal["black", "mean"] = Field("black", description="black as in the paper, or the model's mean pixel")
    without_true_box: Literal["keep", "exclude"] = Field(
        "keep", description="annotated images with no box of their class: keep (the authors' code: foreground all "
        "black, background the full image) or exclude")
    limit: int = Field(0, ge=0, description="images of the split to use; 0 means all")
    batch_size: int = Field(32, ge=1)
    device: str = "auto"
    example: int = Field(0, ge=0, description="which image with a box the example figure (Fig. 9b) shows")


class LowpassEvalConfig(Strict):
    """Section `lowpass_eval`: low-pass filtering (paper Fig. 16; the filter is our documented choice)."""
    models: list[str] = Field(default_factory=list)
    split: Split = "val"
    filter: Literal["ideal", "gaussian"] = "ideal"
    unit: Literal["cycles_per_image", "fraction_of_nyquist"] = Field(
        "cycles_per_image", description="unit of the cutoffs: cycles per image of the crop (the same content for "
        "every model, whatever its input size), or a fraction of each model's own Nyquist frequency")
    cutoffs: list[Annotated[float, Field(gt=0.0)]] = Field(
        default_factory=lambda: [32.0, 24.0, 16.0, 11.2, 8.0, 4.8, 3.2, 1.6], min_length=1,
        description="cutoffs in `unit` (the defaults span a 64 px crop: Nyquist is 32 cycles per image; "
        "a 224 px crop has 112, a 384 px crop 192)")
    limit: int = Field(0, ge=0)
    batch_size: int = Field(64, ge=1)
    device: str = "auto"
