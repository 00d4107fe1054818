"""The params of the token-mixing experiments: the probes of Table 1 (section `token_mixing`) and Appendix F
(section `appendix_f`). Defaults are the embedded default's values."""
from __future__ import annotations

from pydantic import Field

from vitviz.core.settings import Split, Strict


class TokenMixingConfig(Strict):
    """Section `token_mixing`: the token-mixing probes (paper section 4, Table 1, Fig. 7)."""
    models: list[str] = Field(default_factory=list,
                              description="models with a CLS token; others are reported as not applicable")
    split: Split = "val"
    limit: int = Field(0, ge=0)
    layers: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], description="isolating-CLS sweep over L")
    batch_size: int = Field(64, ge=1)
    device: str = "auto"


class AppendixFConfig(Strict):
    """Section `appendix_f`: the spatial-information experiment of Appendix F (our reconstruction)."""
    models: list[str] = Field(default_factory=list, description="timm ViTs with a CLS token whose FFN features are "
                              "mined; [] runs none")
    threshold: float = Field(0.5, description="a patch is active where the raw activation exceeds this (0.5 in the paper)")
    fractions: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    repeats: int = Field(3, ge=1, description="random draws of the blacked-out patches per fraction")
    exemplars: int = Field(1, ge=1, description="top exemplars per sampled feature")
    features_per_layer: int | None = Field(25, ge=0, description="FFN features drawn at random (seeded) per block "
                                           "from every mined feature; null or 0: every feature")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
