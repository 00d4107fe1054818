"""The params of the feature atlas (section `atlas`). Defaults are the embedded default's values."""
from __future__ import annotations

from pydantic import Field

from vitviz.core.settings import Strict


class AtlasConfig(Strict):
    """The static feature atlas of each model (our extension): every mined feature with its evidence."""
    models: list[str] = Field(default_factory=list,
                              description="models with mined exemplars and visualised features")
    thumb_size: int = Field(64, ge=16, le=256, description="exemplar thumbnail side in pixels (each stored once)")
    thumb_quality: int = Field(85, ge=30, le=95, description="JPEG quality of the thumbnails")
    related: int = Field(5, ge=0, le=50, description="related features listed per feature (the most correlated over a random sample of images)")
    shard_features: int = Field(256, ge=16, description="features per lazily loaded data shard")
