"""The params of the scores of visualised features (section `score_features`), also the argument of
`score_features`. Defaults are the embedded default's values."""
from __future__ import annotations

from pydantic import Field

from vitviz.core.settings import Split, Strict


class ScoreConfig(Strict):
    """Scores of every visualised feature (stage score_features): activation ratio, selectivity, MIS, seed agreement."""
    models: list[str] = Field(default_factory=list,
                              description="visualised models to score; [] scores none")
    similarity: str = Field("resnet_demo", description="similarity model of the machine 2-AFC: a key of `models` "
                            "(the library's load_similarity also takes timm:<name>[.<tag>], open_clip:<name>/<tag> "
                            "and dreamsim); never the explained model")
    split: Split = Field("val", description="natural images for the MIS queries and the natural references")
    limit: int = Field(0, ge=0, description="images of the split, spread evenly; 0: all")
    per_site: int | None = Field(1, ge=1, description="score the first n visualised features of each site; "
                                 "null: all")
    tasks: int = Field(20, ge=1, description="2-AFC tasks per feature (N; ours: 20 in the demo; the public "
                       "re-implementation klindtlab/MachInterp uses 100)")
    k: int = Field(2, ge=1, description="references per side in BOTH conditions: K natural exemplars, and K "
                   "visualisations (maximising and minimising, each from its own seed); 9 in the human study "
                   "behind this task and in configs/paper.yaml, 2 in the demo (each visualisation is an "
                   "optimisation)")
    quantile: float = Field(0.2, gt=0.0, le=0.5, description="references and queries come from the top and the "
                            "bottom quantile of the split by the feature's statistic (ours; MachInterp: 0.25)")
    alpha: float | None = Field(None, gt=0.0, description="null: the share of tasks answered correctly (hard "
                                "answers); a number: the mean of sigmoid(alpha * evidence). No calibration ships: "
                                "a fitted alpha holds only for the similarity model it was fitted on")
    seed_agreement: bool = Field(False, description="the seed margin; free when k >= 2 (the second maximising "
                                 "visualisation), one more optimisation per feature when k is 1")
    seed: int = Field(0, ge=0)
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
