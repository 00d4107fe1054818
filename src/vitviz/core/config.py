"""The typed parameters of every stage, validated from params.yaml before any work starts."""
from __future__ import annotations

import difflib
import json
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from vitviz.core.errors import ConfigError
from vitviz.core.runtime import Runtime
from vitviz.paper import PAPER_RECIPE as PAPER

Library = Literal["timm", "open_clip", "torchvision"]
Source = Literal["timm", "open_clip", "torchvision", "file", "url", "train"]
Kind = Literal["ffn", "attn.in", "attn.q", "attn.k", "attn.v"]
Split = Literal["train", "val"]
SOURCE_LIBRARY = {"timm": "timm", "open_clip": "open_clip", "torchvision": "torchvision", "train": "timm"}

NonNegative = Annotated[float, Field(ge=0.0)]
FeatureIndex = Annotated[int, Field(ge=0)]


def _fail(title: str, errors: list[tuple[tuple, str]]) -> None:
    """Raise every rule violation of a model at once, each at its key path (relative to the model)."""
    if errors:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("rule", "{msg}", {"msg": msg}), loc=loc, input=None)
            for loc, msg in errors])


class Strict(BaseModel):
    """A params mapping whose unknown keys are errors."""
    model_config = ConfigDict(extra="forbid")


class SyntheticConfig(Strict):
    """Sizes and evidence knobs of the synthetic ImageNet look-alike."""
    seed: int = Field(0, ge=0)
    classes: int = Field(10, ge=2, le=16, description="number of classes; each has its own shape, texture and scene")
    train_per_class: int = Field(100, ge=1)
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
            _fail("SyntheticConfig", [(("object_scale",), f"expected [lo, hi] with lo <= hi, got {[lo, hi]}")])
        return self


class PrepareDataConfig(Strict):
    """Where the dataset comes from: the synthetic generator or a user's ImageNet root."""
    source: Literal["synthetic", "imagenet"] = "synthetic"
    imagenet_root: str | None = Field(None, description="root of a real ImageNet (Kaggle or class-folder layout)")
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)

    @model_validator(mode="after")
    def _root_given(self) -> PrepareDataConfig:
        if self.source == "imagenet" and not self.imagenet_root:
            _fail("PrepareDataConfig", [(("imagenet_root",), "missing; required when source is 'imagenet'")])
        return self


class PreprocessConfig(Strict):
    """Overrides of the model's data config (timm's names); unset keys come from the model."""
    input_size: int | None = Field(None, ge=8, le=2048)
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    crop_pct: float | None = Field(None, ge=0.1, le=1.0)
    mean: tuple[float, float, float] | None = Field(None, description="per-channel mean, [r, g, b]")
    std: tuple[float, float, float] | None = Field(None, description="per-channel std, [r, g, b]")


class TrainConfig(Strict):
    """Hyperparameters of the demo-model training on the prepared train split."""
    epochs: int = Field(15, ge=1, le=1000)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, ge=0.0)
    weight_decay: float = Field(0.05, ge=0.0)
    warmup_epochs: int = Field(1, ge=0)
    label_smoothing: float = Field(0.1, ge=0.0, le=0.9)
    pad: int = Field(4, ge=0, description="random-crop padding, in input pixels")
    clip_grad: float = Field(1.0, ge=0.0, description="max gradient norm; 0 turns clipping off")
    erase_prob: float = Field(0.0, ge=0.0, le=1.0,
                              description="probability of blacking out a random rectangle (occlusion robustness)")
    seed: int = Field(0, ge=0)


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
        _fail("ModelEntry", errors)
        return self


class ObtainConfig(Strict):
    """How each materialised model is evaluated on the prepared data."""
    eval_split: Split = "val"
    eval_limit: int = Field(0, ge=0, description="images to evaluate on; 0 means all")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="where the reloaded model is evaluated: auto, cpu or cuda[:i]")
    connect_timeout: float = Field(3.0, ge=0.1, le=60.0, description="seconds to wait for the model hub")


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
    kinds: list[Kind] = Field(default_factory=lambda: ["ffn"])
    layers: list[int] | None = Field(None, description="layers to use; null means every layer")
    attn_layers: list[int] | None = Field(None, description="layers for the attention kinds; null means `layers`")
    explicit: dict[str, list[FeatureIndex]] = Field(
        default_factory=dict, description="{site name: [features]} for rule explicit")
    split: Split = "val"
    limit: int = Field(100, ge=1, description="images used to rank features for top_mean")
    seed: int = Field(0, ge=0)


class OptimizeConfig(Strict):
    """Activation maximisation (paper section 3; defaults are the authors' code, method.md section 1)."""
    models: list[str] = Field(default_factory=list, description="model keys to visualise (transformers only)")
    steps: int = Field(PAPER.steps, ge=1)
    copies: int = Field(PAPER.copies, ge=1, description="augmented copies per feature in each step")
    lr: float = Field(PAPER.lr, ge=0.0)
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]] = \
        Field(PAPER.betas, description="Adam's (beta1, beta2)")
    eps: float = Field(PAPER.eps, ge=0.0)
    tv_weight: float = Field(PAPER.tv_weight, ge=0.0,
                             description="0.004 * v; the code's 0.0005 * v times its 1/8 objective quirk")
    jitter: int = Field(PAPER.jitter, ge=0,
                        description="circular shift bound in pixels (32 at 224 and 384 in the paper)")
    shift_bound: float = Field(PAPER.shift_bound, ge=0.0)
    scale_bound: float = Field(PAPER.scale_bound, ge=0.0)
    noise_std: float = Field(PAPER.noise_std, ge=0.0)
    reduce: Literal["mean", "sum"] = Field(
        PAPER.reduce, description="objective over patch tokens: mean (the code) or sum (the paper's text); under "
        "sum the TV weight is scaled by the token count N too, so both are one optimisation for Adam")
    batch_features: int = Field(16, ge=1, description="features optimised together in one batch")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
    per_model: dict[str, ModelOverride] = Field(default_factory=dict)
    select: SelectConfig = Field(default_factory=SelectConfig)


class ConceptConfig(Strict):
    """CLIP concept labels for open_clip models (our extension)."""
    enabled: bool = True
    vocabulary: str = Field("default", description="'default' (ImageNet names + shipped common words) or a text file")
    template: str = "a photo of {}."
    top: int = Field(3, ge=1, le=20)
    region: float = Field(0.5, gt=0, le=1, description="side of the square crop around the activation map's peak, "
                          "as a fraction of the input side; 1 embeds whole exemplar images")


class MineConfig(Strict):
    """Exemplar mining (paper section 3 and 4; method.md section 2)."""
    models: list[str] = Field(default_factory=list, description="model keys to mine (transformers only)")
    split: Split = "val"
    limit: int = Field(0, ge=0, description="images of the split to stream; 0 means all")
    k: int = Field(5, ge=1, description="exemplars kept per feature (the paper: 1, and 20 for Fig. 2 and 11)")
    stat: Literal["mean", "max"] = Field("mean", description="per-image statistic over patch tokens")
    kinds: list[Kind] = Field(default_factory=lambda: ["ffn"])
    maps_top: int = Field(1, ge=0, description="exemplars per feature whose activation maps are stored")
    locality_fraction: float = Field(0.1, ge=0.01, le=1.0, description="top share of patches for the locality number")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")
    concepts: ConceptConfig = Field(default_factory=ConceptConfig)

    @model_validator(mode="after")
    def _maps_within_k(self) -> MineConfig:
        if self.maps_top > self.k:
            _fail("MineConfig", [(("maps_top",), f"{self.maps_top} is more than k ({self.k}); allowed: 0..k")])
        return self


class MaskEvalConfig(Strict):
    """Foreground/background masking (paper section 5; method.md section 5)."""
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
    """Low-pass filtering (paper Fig. 16; our documented filter, method.md section 6)."""
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


class AppendixFConfig(Strict):
    """The spatial-information experiment of Appendix F (our reconstruction, method.md section 4)."""
    models: list[str] = Field(default_factory=list, description="timm ViTs with a CLS token whose FFN features are "
                              "mined; [] runs none")
    threshold: float = Field(0.5, description="a patch is active where the raw activation exceeds this (0.5 in the paper)")
    fractions: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    repeats: int = Field(3, ge=1, description="random draws of the blacked-out patches per fraction")
    exemplars: int = Field(1, ge=1, description="top exemplars per sampled feature")
    features_per_layer: int | None = Field(50, ge=0, description="FFN features drawn at random (seeded) per block "
                                           "from every mined feature; null or 0: every feature (method.md §4)")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")


class TokenMixingConfig(Strict):
    """Token-mixing probes (paper section 4, Table 1, Fig. 7)."""
    models: list[str] = Field(default_factory=list,
                              description="models with a CLS token; others are reported as not applicable")
    split: Split = "val"
    limit: int = Field(0, ge=0)
    layers: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], description="isolating-CLS sweep over L")
    batch_size: int = Field(64, ge=1)
    device: str = "auto"


class AtlasConfig(Strict):
    """The static feature atlas of each model (our extension): every mined feature with its evidence."""
    models: list[str] = Field(default_factory=list, description="models with mined exemplars and visualised features")
    thumb_size: int = Field(64, ge=16, le=256, description="exemplar thumbnail side in pixels (each stored once)")
    thumb_quality: int = Field(85, ge=30, le=95, description="JPEG quality of the thumbnails")
    related: int = Field(5, ge=0, le=50, description="related features listed per feature (Jaccard of exemplar sets)")
    shard_features: int = Field(256, ge=16, description="features per lazily loaded data shard")
    bins: int = Field(24, ge=4, le=200, description="histogram bins of each feature's statistic over the split")
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")


class ScoreConfig(Strict):
    """Scores of every visualised feature (stage score_features): activation ratio, selectivity, MIS, seed agreement."""
    models: list[str] = Field(default_factory=list, description="visualised models to score; [] scores none")
    similarity: str = Field("resnet_demo", description="similarity model of the machine 2-AFC: a key of `models` "
                            "(the library's load_similarity also takes timm:<name>[.<tag>], open_clip:<name>/<tag> "
                            "and dreamsim); never the explained model")
    split: Split = Field("val", description="natural images for the MIS queries and the natural references")
    limit: int = Field(0, ge=0, description="images of the split, spread evenly; 0: all")
    per_site: int | None = Field(None, ge=1, description="score the first n visualised features of each site; "
                                 "null: all")
    tasks: int = Field(20, ge=1, description="2-AFC tasks per feature (N; 20 in Zimmermann et al. 2024)")
    k: int = Field(9, ge=1, description="natural references per side and task (K; 9 in Zimmermann et al. 2024)")
    quantile: float = Field(0.2, gt=0.0, le=0.5, description="references and queries come from the top and the "
                            "bottom quantile of the split by the feature's statistic")
    alpha: float | None = Field(None, gt=0.0, description="null: MIS is the share of tasks answered correctly; "
                                "a number: the mean of sigmoid(alpha * evidence) (0.16 fitted for DreamSim)")
    seed_agreement: bool = Field(True, description="optimise each scored feature once more from another seed")
    fail_ratio: float = Field(0.5, ge=0.0, description="a visualisation that does not beat its best natural image "
                              "and reaches less than this share of its objective is flagged failed")
    bootstrap: int = Field(1000, ge=100, description="bootstrap resamples of the 95% intervals")
    seed: int = Field(0, ge=0)
    batch_size: int = Field(64, ge=1)
    device: str = Field("auto", description="auto, cpu or cuda[:i]")


class ReportConfig(Strict):
    """What the generated report shows."""
    title: str = "vitviz: what do vision transformers learn?"
    samples_per_class: int = Field(2, ge=1, le=10)
    exemplar_features: int = Field(4, ge=0, description="visualised features shown beside their top-k exemplars")


MODEL_SECTIONS = ("optimize_features", "mine_exemplars", "mask_eval", "lowpass_eval", "token_mixing", "appendix_f",
                  "atlas", "score_features")


LAUNCHER_PATTERN = r"^(python3?|torchrun( +--[a-z][a-z_-]*(=[A-Za-z0-9_.:/-]+)?)*)$"


class Params(Strict):
    """All parameters of the pipeline, one section per stage."""
    launcher: str = Field("python", json_schema_extra={"pattern": LAUNCHER_PATTERN},
                          description="how dataset-pass stages start: python, or torchrun --nproc_per_node=N "
                                      "(with --flag or --flag=value options only: it reaches a shell command)")
    prepare_data: PrepareDataConfig = Field(default_factory=PrepareDataConfig)
    models: dict[str, ModelEntry] = Field(default_factory=dict, description="the model zoo, by model key")
    download_models: ObtainConfig = Field(default_factory=ObtainConfig)
    optimize_features: OptimizeConfig = Field(default_factory=OptimizeConfig)
    mine_exemplars: MineConfig = Field(default_factory=MineConfig)
    mask_eval: MaskEvalConfig = Field(default_factory=MaskEvalConfig)
    lowpass_eval: LowpassEvalConfig = Field(default_factory=LowpassEvalConfig)
    token_mixing: TokenMixingConfig = Field(default_factory=TokenMixingConfig)
    appendix_f: AppendixFConfig = Field(default_factory=AppendixFConfig)
    atlas: AtlasConfig = Field(default_factory=AtlasConfig)
    score_features: ScoreConfig = Field(default_factory=ScoreConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    speed: Runtime = Field(default_factory=Runtime, description="fast paths of every dataset pass and of feature "
                                                                "optimisation; each one can be switched off")

    @field_validator("launcher")
    @classmethod
    def _launcher(cls, v: str) -> str:
        if not re.fullmatch(LAUNCHER_PATTERN, v):
            raise PydanticCustomError("launcher", "{v} is not allowed (it reaches a shell command); use python, or "
                                      "torchrun --nproc_per_node=N with more --flag or --flag=value options",
                                      {"v": repr(v)})
        return v

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        errors: list[tuple[tuple, str]] = []
        for name in self.models:
            if not (name.isascii() and name.replace("_", "").replace("-", "").isalnum()):
                errors.append((("models", name), "a model key may hold only letters, digits, '_' and '-'"))
        if not self.models:
            errors.append((("models",), "at least one model is needed"))
        keys = ", ".join(self.models)
        for section in MODEL_SECTIONS:
            for i, k in enumerate(getattr(self, section).models):
                if k not in self.models:
                    errors.append(((section, "models", i), f"{k!r} is not a model key; have: {keys}"))
        opt = self.optimize_features
        for i, k in enumerate(self.appendix_f.models):
            if k not in self.mine_exemplars.models or "ffn" not in self.mine_exemplars.kinds:
                errors.append((("appendix_f", "models", i),
                               f"Appendix F of {k!r} needs its mined FFN exemplars; add it to "
                               "mine_exemplars.models (with ffn in mine_exemplars.kinds), or remove it here"))
        for i, k in enumerate(self.atlas.models):
            if k not in opt.models or k not in self.mine_exemplars.models:
                errors.append((("atlas", "models", i),
                               f"the atlas of {k!r} needs its exemplars and visualised features; add it to "
                               "optimize_features.models and mine_exemplars.models, or remove it here"))
        sc = self.score_features
        if sc.models and sc.similarity not in self.models:
            errors.append((("score_features", "similarity"), f"{sc.similarity!r} is not a model key; have: {keys} "
                           "(the stage loads data/models/<similarity>: add the similarity model to `models`)"))
        for i, k in enumerate(sc.models):
            if k not in opt.models:
                errors.append((("score_features", "models", i), f"{k!r} has no visualisations; add it to "
                               "optimize_features.models, or remove it here"))
            entry = self.models.get(k)
            if sc.similarity == k or (entry is not None and sc.similarity.split(":")[-1].split("/")[0] == entry.name
                                      and entry.source != "train"):
                errors.append((("score_features", "similarity"), f"{sc.similarity!r} is the explained model {k!r}, "
                               "which is circular; choose another model (e.g. a CNN key of `models`)"))
        for k in opt.per_model:
            if k not in self.models:
                errors.append((("optimize_features", "per_model", k), f"not a model key; have: {keys}"))
        _fail("Params", errors)
        return self


# ---- pydantic errors as one line per key path ----

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_EXPECTED = {"int_type": int, "int_parsing": int, "int_from_float": int, "float_type": float,
             "float_parsing": float, "bool_type": bool, "bool_parsing": bool, "string_type": str}
_MAPPING = {"dict_type", "model_type", "model_attributes_type", "dataclass_type", "dataclass_args_type"}
_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
_BOUNDS = {"ge": annotated_types.Ge, "gt": annotated_types.Gt, "le": annotated_types.Le, "lt": annotated_types.Lt}


def _fields(tp: Any) -> dict[str, Any] | None:
    fields = getattr(tp, "__pydantic_fields__", None)
    return fields if isinstance(tp, type) and isinstance(fields, dict) else None


def _unwrap(tp: Any, meta: list) -> Any:
    """`tp` without Optional and Annotated; Annotated constraints are appended to `meta`."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            args = typing.get_args(tp)
            for m in args[1:]:
                meta.extend(getattr(m, "metadata", [m]))
            tp = args[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _node(loc: tuple) -> tuple[Any, list]:
    """The declared type at `loc` under Params and its constraints; (None, []) where the path leaves the schema."""
    tp, meta = Params, []
    for part in loc:
        meta = []
        tp = _unwrap(tp, meta)
        fields, origin = _fields(tp), typing.get_origin(tp)
        if fields is not None:
            if part not in fields:
                return None, []
            meta = list(fields[part].metadata)
            tp = fields[part].annotation
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        elif origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is tuple and isinstance(part, int) and part < len(typing.get_args(tp)):
            tp = typing.get_args(tp)[part]
        else:
            return None, []
    return _unwrap(tp, meta), meta


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _range(meta: list, ctx: dict) -> str:
    b = {name: getattr(m, name) for m in meta for name, cls in _BOUNDS.items() if isinstance(m, cls)} or ctx
    lo = f"[{b['ge']}" if "ge" in b else (f"({b['gt']}" if "gt" in b else "(-inf")
    hi = f"{b['le']}]" if "le" in b else (f"{b['lt']})" if "lt" in b else "inf)")
    return f"{lo}, {hi}"


def _tuple_words(tp: Any) -> str:
    args = typing.get_args(tp)
    nouns = {int: "integers", float: "numbers", str: "strings"}
    return f"a list of {len(args)} {nouns.get(_unwrap(args[0], []), 'values') if args else 'values'}"


def _line(err: dict) -> tuple[str, str]:
    """(key path, message) of one pydantic error."""
    loc, kind, value, ctx = tuple(err["loc"]), err["type"], err.get("input"), err.get("ctx") or {}
    if kind in ("missing", "too_short", "too_long") and loc:
        parent = loc[:-1] if kind == "missing" and isinstance(loc[-1], int) else loc
        tp, _ = _node(parent)
        if typing.get_origin(tp) is tuple:
            return _path(parent), f"expected {_tuple_words(tp)}, got {value!r}"
    if kind == "missing":
        fields = _fields(_node(loc[:-1])[0]) or {}
        about = getattr(fields.get(loc[-1]), "description", None) if loc else None
        return _path(loc), "missing; required" + (f" ({about})" if about else "")
    if kind in _UNKNOWN:
        allowed = list(_fields(_node(loc[:-1])[0]) or {})
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return _path(loc), f"unknown key{hint}; allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        tp, _ = _node(loc)
        allowed = typing.get_args(tp) if typing.get_origin(tp) is Literal else (ctx.get("expected", ""),)
        return _path(loc), f"{value!r} is not allowed; allowed: {', '.join(map(str, allowed))}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _path(loc), f"{value!r} is out of range; allowed: {_range(_node(loc)[1], ctx)}"
    if kind == "too_short":
        return _path(loc), f"expected at least {ctx.get('min_length')} item(s), got {value!r}"
    if kind in _EXPECTED:
        return _path(loc), f"expected {_TYPE_WORDS[_EXPECTED[kind]]}, got {value!r}"
    if kind in _MAPPING:
        return _path(loc), f"expected a mapping, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return _path(loc), f"expected a list, got {value!r}"
    return _path(loc), err["msg"]


def error_lines(exc: ValidationError) -> list[str]:
    """One readable line per bad key path of a params ValidationError, in input order."""
    lines = {}
    for err in exc.errors(include_url=False):
        path, msg = _line(err)
        lines.setdefault(f"{path}: {msg}", None)
    return list(lines)


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    try:
        # Strict, through JSON: no silent coercion ("3" to 3, 1 to true), and YAML lists still make tuples.
        return Params.model_validate_json(json.dumps({} if data is None else data, default=str), strict=True)
    except ValidationError as exc:
        raise ConfigError(error_lines(exc), source) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found; run from the project root or pass --params"], str(path))
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"], str(path))
    return parse_params(data, str(path))


def schema_text() -> str:
    """The JSON Schema of params.yaml, as written to params.schema.json."""
    return json.dumps(Params.model_json_schema(), indent=2) + "\n"
