"""The typed parameters of every stage, validated from params.yaml before any work starts."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from vitviz.core.runtime import Runtime
from vitviz.core.schema import ConfigError, parse_dataclass
from vitviz.core.schema import rule as opt

Library = Literal["timm", "open_clip", "torchvision"]
Source = Literal["timm", "open_clip", "torchvision", "file", "url", "train"]
SOURCE_LIBRARY = {"timm": "timm", "open_clip": "open_clip", "torchvision": "torchvision", "train": "timm"}


@dataclass
class SyntheticConfig:
    """Sizes and evidence knobs of the synthetic ImageNet look-alike."""
    seed: int = opt(0, min=0)
    classes: int = opt(10, min=2, max=16, help="number of classes; each has its own shape, texture and scene")
    train_per_class: int = opt(100, min=1)
    val_per_class: int = opt(20, min=1)
    image_size: int = opt(80, min=32, max=1024, help="short side of the written images, in pixels")
    aspect_jitter: float = opt(0.25, min=0.0, max=1.0, help="max relative change of the long side")
    object_scale: tuple[float, float] = opt(factory=lambda: (0.45, 0.7))
    background_agreement: float = opt(0.6, min=0.0, max=1.0,
                                       help="probability that the scene is the one tied to the class")
    second_object_prob: float = opt(0.25, min=0.0, max=1.0, help="probability of an object of another class")
    extra_true_object_prob: float = opt(0.1, min=0.0, max=1.0,
                                         help="probability of a second object of the true class")
    train_box_fraction: float = opt(0.6, min=0.0, max=1.0, help="share of train images with a box XML")
    quirk_fraction: float = opt(0.02, min=0.0, max=1.0,
                                 help="share of images stored as CMYK, grayscale or PNG-in-.JPEG")
    jpeg_quality: int = opt(92, min=50, max=100)

    def check(self, key: str, errors: list[str]) -> None:
        s = self.object_scale
        ok = isinstance(s, tuple) and len(s) == 2 and all(isinstance(v, float) for v in s)
        if not (ok and 0.1 <= s[0] <= s[1] <= 0.95):
            errors.append(f"{key}.object_scale: expected [lo, hi] with 0.1 <= lo <= hi <= 0.95, got {s!r}")


@dataclass
class PrepareDataConfig:
    """Where the dataset comes from: the synthetic generator or a user's ImageNet root."""
    source: Literal["synthetic", "imagenet"] = "synthetic"
    imagenet_root: str | None = opt(None, help="root of a real ImageNet (Kaggle or class-folder layout)")
    synthetic: SyntheticConfig = opt(factory=SyntheticConfig)

    def check(self, key: str, errors: list[str]) -> None:
        if self.source == "imagenet" and not self.imagenet_root:
            errors.append(f"{key}.imagenet_root: missing; required when {key}.source is 'imagenet'")


@dataclass
class PreprocessConfig:
    """Overrides of the model's data config (timm's names); unset keys come from the model."""
    input_size: int | None = opt(None, min=8, max=2048)
    interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None
    crop_pct: float | None = opt(None, min=0.1, max=1.0)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None


@dataclass
class TrainConfig:
    """Hyperparameters of the demo-model training on the prepared train split."""
    epochs: int = opt(15, min=1, max=1000)
    batch_size: int = opt(64, min=1)
    lr: float = opt(1e-3, min=0.0)
    weight_decay: float = opt(0.05, min=0.0)
    warmup_epochs: int = opt(1, min=0)
    label_smoothing: float = opt(0.1, min=0.0, max=0.9)
    pad: int = opt(4, min=0, help="random-crop padding, in input pixels")
    clip_grad: float = opt(1.0, min=0.0, help="max gradient norm; 0 turns clipping off")
    erase_prob: float = opt(0.0, min=0.0, max=1.0,
                            help="probability of blacking out a random rectangle (occlusion robustness)")
    seed: int = opt(0, min=0)


@dataclass
class ModelEntry:
    """One model of the zoo: where its weights come from and how its input is prepared."""
    source: Source = opt(help="timm, open_clip, torchvision, file, url or train")
    name: str = opt(help="architecture name in its library")
    library: Library | None = opt(None, help="for file/url sources: which library builds the architecture")
    tag: str | None = opt(None, help="pretrained tag (timm tag, open_clip pretrained, torchvision weights)")
    file: str | None = opt(None, help="local checkpoint file")
    url: str | None = None
    sha256: str | None = None
    convert: Literal["lukemelas_vit"] | None = opt(None, help="converter of a file/url checkpoint into the library's names")
    kind: Literal["vit", "cnn"] | None = opt(None, help="family for the report; detected when unset")
    kwargs: dict[str, Any] = opt(factory=dict)
    preprocess: PreprocessConfig = opt(factory=PreprocessConfig)
    train: TrainConfig | None = None

    @property
    def lib(self) -> str:
        """The library that builds the architecture."""
        return self.library or SOURCE_LIBRARY.get(self.source, "")

    def check(self, key: str, errors: list[str]) -> None:
        if self.source in ("file", "url") and not self.library:
            errors.append(f"{key}.library: missing; required for source '{self.source}' "
                          "(allowed: timm, open_clip, torchvision)")
        if self.source in ("timm", "open_clip", "torchvision", "train") and self.library \
                and self.library != SOURCE_LIBRARY.get(self.source):
            errors.append(f"{key}.library: {self.library!r} contradicts source {self.source!r}; remove it")
        if self.source == "file" and not self.file:
            errors.append(f"{key}.file: missing; required for source 'file'")
        if self.source == "url" and not self.url:
            errors.append(f"{key}.url: missing; required for source 'url'")
        if self.source == "train" and self.train is None:
            self.train = TrainConfig()
        if self.source != "train" and self.train is not None:
            errors.append(f"{key}.train: only allowed with source 'train'")
        if self.source == "train" and self.preprocess.input_size is None:
            errors.append(f"{key}.preprocess.input_size: missing; required for source 'train'")
        if isinstance(self.name, str) and self.lib in SOURCE_LIBRARY.values():
            from vitviz.models.registry import architecture_error
            msg = architecture_error(self.lib, self.name, self.tag if self.source != "train" else None,
                                     self.source)
            if msg:
                errors.append(f"{key}.name: {msg}")


@dataclass
class DownloadConfig:
    """How each materialised model is evaluated on the prepared data."""
    eval_split: Literal["train", "val"] = "val"
    eval_limit: int = opt(0, min=0, help="images to evaluate on; 0 means all")
    batch_size: int = opt(64, min=1)
    device: str = opt("auto", help="where the reloaded model is evaluated: auto, cpu or cuda[:i]")
    connect_timeout: float = opt(3.0, min=0.1, max=60.0, help="seconds to wait for the model hub")


@dataclass
class ModelOverride:
    """Per-model optimisation settings (the paper tunes lr and TV per model)."""
    lr: float | None = opt(None, min=0.0)
    tv_weight: float | None = opt(None, min=0.0)
    jitter: int | None = opt(None, min=0)
    tv_features: dict[str, float] = opt(factory=dict, help="per-feature TV weight, {'<site>:<feature>': weight}")
    features: dict[str, list[int]] = opt(factory=dict, help="this model's {site: [features]} for rule explicit")


@dataclass
class SelectConfig:
    """Which (site, feature) targets to visualise."""
    rule: Literal["top_mean", "random", "explicit"] = opt(
        "top_mean", help="top_mean: highest mean activation over a split; random: seeded; explicit: listed")
    per_layer: int = opt(2, min=1, help="features per (layer, kind) for top_mean and random")
    kinds: list[Literal["ffn", "attn.in", "attn.q", "attn.k", "attn.v"]] = opt(factory=lambda: ["ffn"])
    layers: list[int] | None = opt(None, help="layers to use; null means every layer")
    attn_layers: list[int] | None = opt(None, help="layers for the attention kinds; null means `layers`")
    explicit: dict[str, list[int]] = opt(factory=dict, help="{site name: [features]} for rule explicit")
    split: Literal["train", "val"] = "val"
    limit: int = opt(100, min=1, help="images used to rank features for top_mean")
    seed: int = opt(0, min=0)


@dataclass
class OptimizeConfig:
    """Activation maximisation (paper section 3; defaults are the authors' code, method.md section 1)."""
    models: list[str] = opt(factory=list, help="model keys to visualise (transformers only)")
    steps: int = opt(400, min=1)
    copies: int = opt(8, min=1, help="augmented copies per feature in each step")
    lr: float = opt(0.1, min=0.0)
    betas: tuple[float, float] = opt(factory=lambda: (0.5, 0.99))
    eps: float = opt(1e-8, min=0.0)
    tv_weight: float = opt(0.004, min=0.0, help="0.004 * v; the code's 0.0005 * v times its 1/8 objective quirk")
    jitter: int = opt(32, min=0, help="circular shift bound in pixels (32 at 224 and 384 in the paper)")
    shift_bound: float = opt(1.0, min=0.0)
    scale_bound: float = opt(1.0, min=0.0)
    noise_std: float = opt(0.5, min=0.0)
    reduce: Literal["mean", "sum"] = "mean"
    batch_features: int = opt(16, min=1, help="features optimised together in one batch")
    seed: int = opt(0, min=0)
    device: str = opt("auto", help="auto, cpu or cuda[:i]")
    per_model: dict[str, ModelOverride] = opt(factory=dict)
    select: SelectConfig = opt(factory=SelectConfig)


@dataclass
class ConceptConfig:
    """CLIP concept labels for open_clip models (our extension)."""
    enabled: bool = True
    vocabulary: str = opt("default", help="'default' (ImageNet names + shipped common words) or a text file")
    template: str = "a photo of {}."
    top: int = opt(3, min=1, max=20)


@dataclass
class MineConfig:
    """Exemplar mining (paper section 3 and 4; method.md section 2)."""
    models: list[str] = opt(factory=list, help="model keys to mine (transformers only)")
    split: Literal["train", "val"] = "val"
    limit: int = opt(0, min=0, help="images of the split to stream; 0 means all")
    k: int = opt(5, min=1, help="exemplars kept per feature (the paper: 1, and 20 for Fig. 2 and 11)")
    stat: Literal["mean", "max"] = opt("mean", help="per-image statistic over patch tokens")
    kinds: list[Literal["ffn", "attn.in", "attn.q", "attn.k", "attn.v"]] = opt(factory=lambda: ["ffn"])
    maps_top: int = opt(1, min=0, help="exemplars per feature whose activation maps are stored")
    locality_fraction: float = opt(0.1, min=0.01, max=1.0, help="top share of patches for the locality number")
    batch_size: int = opt(64, min=1)
    device: str = opt("auto", help="auto, cpu or cuda[:i]")
    concepts: ConceptConfig = opt(factory=ConceptConfig)

    def check(self, key: str, errors: list[str]) -> None:
        if isinstance(self.maps_top, int) and isinstance(self.k, int) and self.maps_top > self.k:
            errors.append(f"{key}.maps_top: {self.maps_top} is more than k ({self.k}); allowed: 0..k")


@dataclass
class MaskEvalConfig:
    """Foreground/background masking (paper section 5; method.md section 5)."""
    models: list[str] = opt(factory=list)
    split: Literal["train", "val"] = opt("val", help="train as in the paper, or val")
    fill: Literal["black", "mean"] = opt("black", help="black as in the paper, or the model's mean pixel")
    limit: int = opt(0, min=0, help="images of the split to use; 0 means all")
    batch_size: int = opt(32, min=1)
    device: str = "auto"
    example: int = opt(0, min=0, help="which image with a box the example figure (Fig. 9b) shows")


@dataclass
class LowpassEvalConfig:
    """Low-pass filtering (paper Fig. 16; our documented filter, method.md section 6)."""
    models: list[str] = opt(factory=list)
    split: Literal["train", "val"] = "val"
    filter: Literal["ideal", "gaussian"] = "ideal"
    cutoffs: list[float] = opt(factory=lambda: [1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.1, 0.05],
                               help="fractions of Nyquist")
    limit: int = opt(0, min=0)
    batch_size: int = opt(64, min=1)
    device: str = "auto"

    def check(self, key: str, errors: list[str]) -> None:
        bad = [c for c in self.cutoffs or [] if not isinstance(c, float) or c <= 0]
        if bad or not self.cutoffs:
            errors.append(f"{key}.cutoffs: expected a non-empty list of positive fractions of Nyquist, got {self.cutoffs}")


@dataclass
class AppendixFConfig:
    """The spatial-information experiment of Appendix F (our reconstruction, method.md section 4)."""
    enabled: bool = True
    threshold: float = opt(0.5, help="a patch is active where the raw activation exceeds this (0.5 in the paper)")
    fractions: list[float] = opt(factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    repeats: int = opt(3, min=1, help="random draws of the blacked-out patches per fraction")
    exemplars: int = opt(1, min=1, help="top exemplars per visualised feature")
    seed: int = opt(0, min=0)


@dataclass
class TokenMixingConfig:
    """Token-mixing probes (paper section 4, Table 1, Fig. 7) and Appendix F."""
    models: list[str] = opt(factory=list, help="models with a CLS token; others are reported as not applicable")
    split: Literal["train", "val"] = "val"
    limit: int = opt(0, min=0)
    layers: list[int] = opt(factory=lambda: [0, 1, 2, 3, 4, 5, 6], help="isolating-CLS sweep over L")
    batch_size: int = opt(64, min=1)
    device: str = "auto"
    appendix_f: AppendixFConfig = opt(factory=AppendixFConfig)


@dataclass
class ReportConfig:
    """What the generated report shows."""
    title: str = "vitviz: what do vision transformers learn?"
    samples_per_class: int = opt(2, min=1, max=10)
    exemplar_features: int = opt(4, min=0, help="visualised features shown beside their top-k exemplars")


@dataclass
class SpeedConfig:
    """Fast paths of every dataset pass and of feature optimisation; each one can be switched off."""
    precision: Literal["fp32", "tf32", "bf16"] = opt(
        "fp32", help="fp32 exact; tf32 matmuls on a GPU; bf16 autocast (within the README's tolerance)")
    fused_attention: bool = opt(True, help="timm attention through F.scaled_dot_product_attention")
    channels_last: bool = opt(True, help="CNN weights and inputs in NHWC")
    num_workers: int = opt(0, min=0, max=64, help="DataLoader worker processes per process (rank)")
    pin_memory: bool = opt(True, help="page-locked batches, copied to a GPU without blocking")
    device_decode: bool = opt(False, help="decode JPEGs on the model's device (nvJPEG on a GPU)")

    def runtime(self) -> Runtime:
        """The library's runtime for these settings."""
        return Runtime(self.precision, self.fused_attention, self.channels_last, self.num_workers,
                       self.pin_memory, self.device_decode)


@dataclass
class Params:
    """All parameters of the pipeline, one section per stage."""
    launcher: str = opt("python", help="how dataset-pass stages start: python, or torchrun --nproc_per_node=N")
    prepare_data: PrepareDataConfig = opt(factory=PrepareDataConfig)
    models: dict[str, ModelEntry] = opt(factory=dict)
    download_models: DownloadConfig = opt(factory=DownloadConfig)
    optimize_features: OptimizeConfig = opt(factory=OptimizeConfig)
    mine_exemplars: MineConfig = opt(factory=MineConfig)
    mask_eval: MaskEvalConfig = opt(factory=MaskEvalConfig)
    lowpass_eval: LowpassEvalConfig = opt(factory=LowpassEvalConfig)
    token_mixing: TokenMixingConfig = opt(factory=TokenMixingConfig)
    report: ReportConfig = opt(factory=ReportConfig)
    speed: SpeedConfig = opt(factory=SpeedConfig)

    def check(self, key: str, errors: list[str]) -> None:
        for name in self.models or {}:
            if not name.replace("_", "").replace("-", "").isalnum():
                errors.append(f"models.{name}: a model key may hold only letters, digits, '_' and '-'")
        if not self.models:
            errors.append("models: at least one model is needed")
        keys = ", ".join(self.models or {})
        for section in ("optimize_features", "mine_exemplars", "mask_eval", "lowpass_eval", "token_mixing"):
            for i, k in enumerate(getattr(self, section).models or []):
                if k not in (self.models or {}):
                    errors.append(f"{section}.models[{i}]: {k!r} is not a model key; have: {keys}")
        opt = self.optimize_features
        tm = self.token_mixing
        if tm.appendix_f.enabled:
            for i, k in enumerate(tm.models or []):
                if k not in (opt.models or []) or k not in (self.mine_exemplars.models or []):
                    errors.append(f"token_mixing.models[{i}]: Appendix F of {k!r} needs its visualised features "
                                  "and exemplars; add it to optimize_features.models and mine_exemplars.models, "
                                  "or set token_mixing.appendix_f.enabled: false")
        for k in opt.per_model or {}:
            if k not in (self.models or {}):
                errors.append(f"optimize_features.per_model.{k}: not a model key; have: {keys}")


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError listing every bad key."""
    errors: list[str] = []
    params = parse_dataclass(Params, data, "", errors)
    if errors:
        raise ConfigError(errors, source)
    return params


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
