"""The params of exemplar mining (section `mine_exemplars`). Defaults are the embedded default's values."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vitviz.activations.kinds import Kind
from vitviz.core.settings import Split, Strict, rule_errors


class ConceptConfig(Strict):
    """CLIP concept labels for open_clip models (our extension)."""
    enabled: bool = True
    vocabulary: str = Field("default", description="'default' (ImageNet names + shipped common words) or a text file")
    template: str = "a photo of {}."
    top: int = Field(3, ge=1, le=20)
    region: float = Field(0.5, gt=0, le=1, description="side of the square crop around the activation map's peak, "
                          "as a fraction of the input side; 1 embeds whole exemplar images")


class MineConfig(Strict):
    """Section `mine_exemplars`: exemplar mining (paper sections 3 and 4)."""
    models: list[str] = Field(default_factory=list, description="model keys to mine (transformers only)")
    split: Split = "val"
    limit: int = Field(0, ge=0, description="images of the split to stream; 0 means all")
    k: int = Field(5, ge=1, description="exemplars kept per feature (the paper: 1, and 20 for Fig. 2 and 11)")
    stat: Literal["mean", "max"] = Field("mean", description="per-image statistic over patch tokens")
    kinds: list[Kind] = Field(default_factory=lambda: ["ffn", "resid.sae"],
                              description="kinds mined at every block; a latent kind applies to the models with an SAE "
                              "(sae.models; the others skip it) and brings the site its SAE reads along, for the "
                              "comparison of neurons with latents")
    maps_top: int = Field(5, ge=0, description="exemplars per feature whose activation maps are stored")
    locality_fraction: float = Field(0.1, ge=0.01, le=1.0, description="top share of patches for the locality number")
    bins: int = Field(24, ge=4, le=200, description="histogram bins of each feature's statistic over the split (exact "
                      "counts on power-of-two bin widths; the atlas shows them)")
    sample: int = Field(512, ge=0, description="images of the split drawn at random (seed 0) on which every feature's "
                        "statistic is kept: the atlas's quantile bands of exemplars and its related features "
                        "(correlation); 0: none")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
    concepts: ConceptConfig = Field(default_factory=ConceptConfig)

    @model_validator(mode="after")
    def _maps_within_k(self) -> MineConfig:
        if self.maps_top > self.k:
            rule_errors("MineConfig", [(("maps_top",), f"{self.maps_top} is more than k ({self.k}); allowed: 0..k")])
        return self
