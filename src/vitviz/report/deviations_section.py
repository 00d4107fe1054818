"""Report section listing where the active configuration departs from the paper, and the method choices."""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
from pathlib import Path

import pandas as pd

from vitviz.visualization.paper_recipe import PAPER_RECIPE
from vitviz.report.document import Bullets, Para, Section, Table

if TYPE_CHECKING:
    from vitviz.pipeline.params import Params

PAPER_MODELS = {("timm", "vit_base_patch16_384"), ("timm", "vit_base_patch32_384"), ("timm", "vit_large_patch16_384"),
                ("timm", "vit_large_patch32_384"), ("open_clip", "ViT-B-16"), ("open_clip", "ViT-B-32"),
                ("torchvision", "resnet50"), ("torchvision", "resnet152"), ("torchvision", "mobilenet_v2"),
                ("torchvision", "densenet121")}

# The 38 models of Appendix C come from these timm families (configs/paper-38.yaml).
APPENDIX_C_PREFIXES = ("deit_", "coat_", "convit_", "pit_", "swin_", "twins_")

DECISIONS = [
    ("feature", "output of the FFN activation (GELU; QuickGELU for OpenAI CLIP), one channel",
     "ViT and CLIP: paper and code agree; DeiT, Swin, PiT, CoaT, ConViT, Twins: inference (docs/method.md §1), the "
     "same hook on each family's FFN activation"),
    ("locality number", "share of a feature's activation mass in its top 10% of patches, per block",
     "ours: not in the paper"),
    ("feature selection", "rule top_mean: the channels of highest mean activation over a split",
     "ours: the paper hand-picks its figures' features (paper.yaml lists them)"),
    ("q/k/v features in paper.yaml", "channels 0, 1, 2 of the queries, keys and values at blocks 1 and 10",
     "ours: the paper does not say which channels its Fig. 4/12 show"),
    ("concept labels (CLIP)", "CLIP text prompts closest to a feature's exemplars",
     "ours: an extension, not in the paper"),
    ("objective", "mean over patch tokens (prefix tokens excluded), averaged over copies",
     "the paper writes a sum; the code takes the mean (a constant factor)"),
    ("objective/TV balance", "loss = -objective + 0.004 v TV",
     "the code's .diag() divides the objective by 8; folded into the TV weight (same optimisation)"),
    ("noise", "one offset per copy and channel, std 0.5 falling linearly to 0",
     "the paper says Gaussian smoothing per pixel; the code adds per-channel offsets"),
    ("jitter", "one circular shift for all copies", "the code"),
    ("seeds", "one seed per (model, site, feature) from the params seed", "the code seeds with the feature index"),
    ("exemplars", "top-k by the mean over patch tokens; ties to the lower image index", "the code keeps k = 1"),
    ("isolating CLS", "blocks < L on CLS alone and patches alone; final norm on all tokens before the head",
     "the code"),
    ("patch head", "the head on each normed patch token; Patch Average/Maximum over the grid",
     "inferred: the repo has one patch's script only"),
    ("masking", "true-class boxes filled at original resolution before resize and crop", "the code"),
    ("masking set", "annotated images without a box of their class are kept (foreground all black, background "
                    "the full image); mask_eval.without_true_box: exclude drops them; both counts are printed",
     "the code"),
    ("low-pass", "ideal circular FFT low-pass on the [0, 1] crop before normalisation; the cutoff in cycles per "
                 "image of the crop (lowpass_eval.unit), the same content for every model whatever its input size",
     "ours: no code exists (docs/method.md §7); a fraction of each model's Nyquist is an option (it favours 384 px ViTs over 224 px CNNs)"),
    ("Appendix F", "threshold on raw activations; inactive patches blacked out first", "ours: no code exists"),
]


def _recipes_run(params: Params, features_dir: Path | None) -> dict[str, dict]:
    """Per visualised model, the recipe its features were made with (settings.json), else the one params gives."""
    from vitviz.visualization.settings import model_recipe
    from vitviz.visualization.store import SETTINGS
    out = {}
    for key in params.optimize_features.models:
        path = features_dir / key / SETTINGS if features_dir is not None else None
        if path is not None and path.exists():
            out[key] = json.loads(path.read_text())["settings"]
        else:
            out[key] = model_recipe(params.optimize_features, key)[0].model_dump(mode="json")
    return out


def deviations(params: Params, features_dir: Path | None = None) -> list[str]:
    """Where the active configuration (and the features in `features_dir`, when given) differs from the paper."""
    out = []
    if params.prepare_data.source == "synthetic":
        out.append("Dataset: the embedded synthetic ImageNet look-alike, not ImageNet; numbers are not comparable "
                   "with the paper's, only their direction is.")
    others = [k for k, e in params.models.items() if e.source == "train" or (
        (e.lib, e.name) not in PAPER_MODELS and not (e.lib == "timm" and e.name.startswith(APPENDIX_C_PREFIXES)))]
    if others:
        out.append(f"Models not in the paper: {', '.join(others)}.")
    trained = {k: e for k, e in params.models.items() if e.source == "train" and e.train is not None}
    setups = {(e.train.erase_prob, e.train.epochs) for e in trained.values()}
    if len(setups) > 1:
        out.append("The trained demo models differ in their training, so a ViT-against-CNN comparison on them is "
                   "confounded with it: " + "; ".join(f"{k}: random erasing {e.train.erase_prob}, "
                                                      f"{e.train.epochs} epochs" for k, e in trained.items()) + ".")
    if params.mask_eval.models and params.mask_eval.without_true_box != "keep":
        out.append("mask_eval.without_true_box = exclude (the authors' code keeps annotated images without a "
                   "true-class box).")
    if params.lowpass_eval.models and params.lowpass_eval.unit != "cycles_per_image":
        out.append("lowpass_eval.unit = fraction_of_nyquist: models of different input sizes keep different "
                   "image content at the same cutoff.")
    o = params.optimize_features
    recipes = _recipes_run(params, features_dir)
    for name in ("steps", "copies", "jitter"):
        paper = getattr(PAPER_RECIPE, name)
        ran = {key: s[name] for key, s in recipes.items()}
        if any(v != paper for v in ran.values()):
            values = sorted(set(ran.values()))
            shown = str(values[0]) if len(values) == 1 else ", ".join(f"{v} ({k})" for k, v in ran.items())
            out.append(f"optimize_features.{name} = {shown} (the paper: {paper}).")
    if o.models and o.select.rule != "explicit":
        out.append(f"Visualised features chosen by rule '{o.select.rule}'; the paper's figures use hand-picked "
                   "features (configs/paper.yaml lists them).")
    m = params.mine_exemplars
    if m.models and m.k not in (1, 20):
        out.append(f"mine_exemplars.k = {m.k} (the paper keeps 1, and 20 for Fig. 2 and 11).")
    if params.mask_eval.models and params.mask_eval.split != "train":
        out.append(f"mask_eval.split = {params.mask_eval.split} (the paper: ImageNet train images with boxes).")
    if params.mask_eval.models and params.mask_eval.fill != "black":
        out.append(f"mask_eval.fill = {params.mask_eval.fill} (the paper: black).")
    if params.appendix_f.models and params.appendix_f.threshold != 0.5:
        out.append(f"Appendix F threshold {params.appendix_f.threshold} (the paper: 0.5).")
    sp = params.speed
    if sp.precision != "fp32":
        what = "bfloat16 autocast of matmuls and convolutions" if sp.precision == "bf16" else \
            "TensorFloat-32 matmuls and convolutions on the GPU"
        out.append(f"speed.precision = {sp.precision}: {what} (the paper: fp32); the README's section 'Speed' "
                   "gives the tolerance this is held to.")
    if sp.device_decode:
        out.append("speed.device_decode = true: JPEGs decoded on the model's device and resized by torchvision's "
                   "antialiased tensor resize instead of PIL's (crops differ by at most 1/255 on average).")
    return out


def deviations_section(params: Params, features_dir: Path | None = None) -> Section:
    """The deviations of this configuration, and the method decisions in force."""
    devs = deviations(params, features_dir)
    blocks = [Para("This configuration departs from the paper in:"), Bullets(devs)] if devs else \
        [Para("This configuration follows the paper's setup.")]
    blocks.append(Table(pd.DataFrame(DECISIONS, columns=["topic", "what this project does", "source"]),
                        "Method decisions: where the paper's text and the authors' code disagree, the code is "
                        "followed; where no code exists, the choice is ours and labelled so."))
    return Section("Deviations from the paper", blocks)
