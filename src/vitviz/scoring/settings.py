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
    tasks: int = Field(20, ge=1, description="2-AFC tasks per feature (N; 20 in Zimmermann et al. 2024)")
    k: int = Field(9, ge=1, description="natural references per side and task (K; 9 in Zimmermann et al. 2024)")
    quantile: float = Field(0.2, gt=0.0, le=0.5, description="references and queries come from the top and the "
                            "bottom quantile of the split by the feature's statistic")
    alpha: float | None = Field(None, gt=0.0, description="null: MIS is the share of tasks answered correctly; "
                                "a number: the mean of sigmoid(alpha * evidence) (0.16 fitted for DreamSim)")
    seed_agreement: bool = Field(False, description="optimise each scored feature once more from another seed")
    fail_ratio: float = Field(0.5, ge=0.0, description="a visualisation that does not beat its best natural image "
                              "and reaches less than this share of its objective is flagged failed")
    bootstrap: int = Field(1000, ge=100, description="bootstrap resamples of the 95% intervals")
    seed: int = Field(0, ge=0)
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
