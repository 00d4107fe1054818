"""The params of feature visualisation (section `optimize_features`): the recipe, which is also the argument of
`visualize`, and which features of which models are visualised. Defaults are the embedded default's values; the
authors' recipe (400 steps, 8 copies, 32 px jitter) is `paper_recipe.paper_recipe`, and configs/paper.yaml."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vitviz.activations.kinds import KINDS, Kind, is_latent
from vitviz.core.settings import FeatureIndex, NonNegative, Split, Strict

Unit = Annotated[float, Field(ge=0.0, lt=1.0)]


class VisSettings(Strict):
    """The optimisation recipe (section 3 of the paper, as the authors' code runs it): Adam on raw pixels with a
    cosine schedule, `copies` augmented copies per feature (ColorShift, per-copy per-channel noise falling to 0,
    circular jitter), TV regularisation; `batch_features` features share each forward."""
    steps: int = Field(80, ge=1, description="optimisation steps (the paper: 400; fewer in the CPU demo)")
    copies: int = Field(4, ge=1, description="augmented copies per feature in each step (the paper: 8)")
    lr: float = Field(0.1, ge=0.0, description="Adam's learning rate (the paper: 0.1 for ViT, 1.0 for CLIP)")
    betas: tuple[Unit, Unit] = Field((0.5, 0.99), description="Adam's (beta1, beta2)")
    eps: float = Field(1e-8, ge=0.0)
    tv_weight: float = Field(0.004, ge=0.0,
                             description="0.004 * v; the code's 0.0005 * v times its 1/8 objective quirk")
    jitter: int = Field(8, ge=0, description="circular shift bound in pixels (32 at 224 and 384 in the paper; "
                        "the demo's inputs are 64 px)")
    shift_bound: float = Field(1.0, ge=0.0, description="ColorShift: shift ~ U(-b, b)")
    scale_bound: float = Field(1.0, ge=0.0, description="ColorShift: scale = exp(U(-b, b))")
    noise_std: float = Field(0.5, ge=0.0, description="per-copy per-channel noise, std falling linearly to 0")
    reduce: Literal["mean", "sum"] = Field(
        "mean", description="objective over patch tokens: mean (the code) or sum (the paper's text); under "
        "sum the TV weight is scaled by the token count N too, so both are one optimisation for Adam")
    batch_features: int = Field(16, ge=1, description="features optimised together in one batch (a run-time knob)")
    tv_features: dict[str, NonNegative] = Field(
        default_factory=dict, description="per-feature TV weight, {'<site>:<feature>': weight}")

    def tv_for(self, site: str, feature: int) -> float:
        """The TV weight of one feature (the paper picks v per feature for some figures)."""
        return self.tv_features.get(f"{site}:{feature}", self.tv_weight)


class ModelOverride(Strict):
    """Per-model optimisation settings (the paper tunes lr and TV per model)."""
    lr: float | None = Field(None, ge=0.0)
    tv_weight: float | None = Field(None, ge=0.0)
    jitter: int | None = Field(None, ge=0)
    tv_features: dict[str, NonNegative] = Field(
        default_factory=dict, description="per-feature TV weight, {'<site>:<feature>': weight}")
    features: dict[str, list[FeatureIndex]] = Field(
        default_factory=dict, description="this model's {site: [features]} for rule explicit")


class SelectConfig(Strict):
    """Which (site, feature) targets to visualise."""
    rule: Literal["top_mean", "random", "explicit", "all"] = Field(
        "top_mean", description="top_mean: highest mean activation over a split; random: seeded; explicit: listed; "
                                "all: every channel of the sites (resumable: finished features are kept)")
    per_layer: int = Field(2, ge=1, description="features per (layer, kind) for top_mean and random")
    kinds: list[Kind] = Field(default_factory=lambda: [k for k in KINDS if k.startswith(("ffn", "attn")) and not
                                                       is_latent(k)],
                              description="kinds of site to visualise; an SAE's latents: the sae section")
    layers: list[int] | None = Field(None, description="layers to use; null means every layer")
    attn_layers: list[int] | None = Field(default_factory=lambda: [0, 5],
                                          description="layers for the attention kinds; null means `layers`")
    explicit: dict[str, list[FeatureIndex]] = Field(
        default_factory=dict, description="{site name: [features]} for rule explicit")
    split: Split = "val"
    limit: int = Field(100, ge=1, description="images used to rank features for top_mean")
    seed: int = Field(0, ge=0)


class OptimizeConfig(VisSettings):
    """Section `optimize_features`: the recipe, and which features of which models it visualises."""
    models: list[str] = Field(default_factory=list,
                              description="model keys to visualise (transformers only)")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
    per_model: dict[str, ModelOverride] = Field(default_factory=dict)
    select: SelectConfig = Field(default_factory=SelectConfig)


def model_recipe(cfg: OptimizeConfig, key: str) -> tuple[VisSettings, dict[str, list[int]]]:
    """The recipe and the explicit {site: [features]} for model `key`, its per_model overrides applied."""
    o = cfg.per_model.get(key)
    recipe = VisSettings.model_validate({k: getattr(cfg, k) for k in VisSettings.model_fields})
    if o is not None:
        recipe = recipe.model_copy(update={**{k: getattr(o, k) for k in ("lr", "tv_weight", "jitter")
                                              if getattr(o, k) is not None}, "tv_features": dict(o.tv_features)})
    explicit = o.features if o is not None and o.features else cfg.select.explicit
    return recipe, {site: list(f) for site, f in explicit.items()}
