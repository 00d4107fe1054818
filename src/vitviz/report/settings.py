"""The params of the report (section `report`). Defaults are the embedded default's values."""
from __future__ import annotations

from pydantic import Field

from vitviz.core.settings import Strict


class ReportConfig(Strict):
    """What the generated report shows."""
    title: str = "vitviz: what do vision transformers learn?"
    samples_per_class: int = Field(3, ge=1, le=10)
    exemplar_features: int = Field(4, ge=0, description="visualised features shown beside their top-k exemplars")
