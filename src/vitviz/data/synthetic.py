"""A deterministic synthetic ImageNet look-alike, written in the Kaggle ILSVRC CLS-LOC layout.

Each class has a foreground object whose class shows twice: in its silhouette (low spatial frequency)
and in its surface texture (high spatial frequency, periods of 3 to 6 pixels). Backgrounds are textured
scenes; each class has its own scene, used with probability `background_agreement`, so backgrounds
carry class evidence too. The true-class box is the object's box; some images hold a second object of
another class (its box is in the XML under its own wnid) or a second object of the true class.
"""
from __future__ import annotations

import colorsys
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from vitviz.data.settings import SyntheticConfig
from vitviz.data.voc import Box, VocObject, write_voc_xml

log = logging.getLogger(__name__)

SHAPES = ["disc", "square", "triangle", "star", "cross", "ring", "hexagon", "diamond",
          "crescent", "chevron", "tee", "ell", "sunburst", "half-disc", "pentagon", "bar"]
TEXTURES = ["vertical stripes", "horizontal stripes", "rising stripes", "falling stripes",
            "checkers", "dots", "fine vertical stripes", "fine horizontal stripes", "wide checkers",
            "cross-hatch", "grid", "fine rising stripes", "fine falling stripes", "wide dots",
            "zigzag", "waves"]
SCENES = ["meadow", "sea", "desert", "brick", "forest", "snow", "lava", "dusk",
          "moss", "clay", "slate", "lagoon", "heath", "rust", "ice", "plum"]
SPLIT_ID = {"train": 0, "val": 1}


def wnid(k: int) -> str:
    """The synthetic WordNet id of class k (n99000000, n99000001, ...)."""
    return f"n99{k:06d}"


def class_name(k: int) -> str:
    """Human-readable name of class k: its shape and its texture."""
    return f"{SHAPES[k]} with {TEXTURES[k]}"


# ---------------------------------------------------------------------------------------------------
# silhouettes (low frequency)

def _regular(n: int, r: float = 0.5, phase: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [(0.5 + r * math.cos(phase + 2 * math.pi * i / n), 0.5 + r * math.sin(phase + 2 * math.pi * i / n))
            for i in range(n)]


def _star(n: int, inner: float) -> list[tuple[float, float]]:
    pts = []
    for i in range(2 * n):
        r = 0.5 if i % 2 == 0 else 0.5 * inner
        a = -math.pi / 2 + math.pi * i / n
        pts.append((0.5 + r * math.cos(a), 0.5 + r * math.sin(a)))
    return pts


POLYGONS = {
    "square": [(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)],
    "triangle": [(0.5, 0.0), (1.0, 1.0), (0.0, 1.0)],
    "star": _star(5, 0.42),
    "cross": [(0.35, 0), (0.65, 0), (0.65, 0.35), (1, 0.35), (1, 0.65), (0.65, 0.65), (0.65, 1), (0.35, 1),
              (0.35, 0.65), (0, 0.65), (0, 0.35), (0.35, 0.35)],
    "hexagon": _regular(6),
    "diamond": [(0.5, 0.0), (0.85, 0.5), (0.5, 1.0), (0.15, 0.5)],
    "chevron": [(0, 0), (0.5, 0.45), (1, 0), (1, 0.55), (0.5, 1), (0, 0.55)],
    "tee": [(0, 0), (1, 0), (1, 0.32), (0.66, 0.32), (0.66, 1), (0.34, 1), (0.34, 0.32), (0, 0.32)],
    "ell": [(0, 0), (0.36, 0), (0.36, 0.64), (1, 0.64), (1, 1), (0, 1)],
    "sunburst": _star(9, 0.62),
    "pentagon": _regular(5),
    "bar": [(0, 0.3), (1, 0.3), (1, 0.7), (0, 0.7)],
}


def silhouette(shape: str, h: int, w: int, angle: float, ss: int = 4) -> np.ndarray:
    """Boolean mask (h, w) of `shape` filling an h x w box, rotated by `angle` degrees."""
    H, W = h * ss, w * ss
    img = Image.new("L", (W, H), 0)
    d = ImageDraw.Draw(img)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))

    def tr(pts):
        out = []
        for x, y in pts:
            x, y = x - 0.5, y - 0.5
            out.append(((0.5 + c * x - s * y) * (W - 1), (0.5 + s * x + c * y) * (H - 1)))
        return out

    if shape in POLYGONS:
        d.polygon(tr(POLYGONS[shape]), fill=255)
    elif shape in ("disc", "ring", "crescent", "half-disc"):
        d.ellipse([0, 0, W - 1, H - 1], fill=255)
        if shape == "ring":
            d.ellipse([0.3 * W, 0.3 * H, 0.7 * W, 0.7 * H], fill=0)
        elif shape == "crescent":
            d.ellipse([0.3 * W, -0.05 * H, 1.25 * W, 0.9 * H], fill=0)
        elif shape == "half-disc":
            d.rectangle([0, 0.5 * H, W, H], fill=0)
            img = img.rotate(-angle, resample=Image.NEAREST, center=(W / 2, H / 2))
    else:  # pragma: no cover - SHAPES and the drawing code are kept in step
        raise ValueError(shape)
    small = img.resize((w, h), Image.BOX)
    return np.asarray(small) >= 128


# ---------------------------------------------------------------------------------------------------
# textures (high frequency), in image coordinates so that their orientation is a class cue

def texture(k: int, yy: np.ndarray, xx: np.ndarray, unit: float) -> np.ndarray:
    """Texture k sampled at pixel coordinates, values in [-1, 1]; `unit` scales its periods."""
    def grating(deg: float, period: float) -> np.ndarray:
        a = math.radians(deg)
        return np.sin(2 * np.pi * (xx * math.cos(a) + yy * math.sin(a)) / (period * unit))

    def sq(v: np.ndarray) -> np.ndarray:
        return np.sign(v)

    name = TEXTURES[k]
    if name == "vertical stripes":
        return sq(grating(0, 5))
    if name == "horizontal stripes":
        return sq(grating(90, 5))
    if name == "rising stripes":
        return sq(grating(45, 5))
    if name == "falling stripes":
        return sq(grating(135, 5))
    if name == "checkers":
        return sq(grating(0, 4)) * sq(grating(90, 4))
    if name == "dots":
        return np.where((np.cos(2 * np.pi * xx / (4 * unit)) * np.cos(2 * np.pi * yy / (4 * unit))) > 0.5, 1.0, -1.0)
    if name == "fine vertical stripes":
        return sq(grating(0, 3))
    if name == "fine horizontal stripes":
        return sq(grating(90, 3))
    if name == "wide checkers":
        return sq(grating(0, 6)) * sq(grating(90, 6))
    if name == "cross-hatch":
        return np.maximum(sq(grating(45, 5)), sq(grating(135, 5)))
    if name == "grid":
        return np.maximum(sq(grating(0, 5) - 0.6), sq(grating(90, 5) - 0.6))
    if name == "fine rising stripes":
        return sq(grating(45, 3.5))
    if name == "fine falling stripes":
        return sq(grating(135, 3.5))
    if name == "wide dots":
        return np.where((np.cos(2 * np.pi * xx / (6 * unit)) * np.cos(2 * np.pi * yy / (6 * unit))) > 0.5, 1.0, -1.0)
    if name == "zigzag":
        return sq(np.sin(2 * np.pi * (yy + 2 * unit * np.abs(((xx / unit) % 4) - 2)) / (5 * unit)))
    if name == "waves":
        return sq(np.sin(2 * np.pi * (yy + 1.5 * unit * np.sin(2 * np.pi * xx / (8 * unit))) / (4 * unit)))
    raise ValueError(name)  # pragma: no cover


# ---------------------------------------------------------------------------------------------------
# scenes

def scene(k: int, h: int, w: int, rng: np.random.Generator, unit: float) -> np.ndarray:
    """Background scene k as float RGB (h, w, 3) in [0, 1]: a tied palette, smooth blobs and grain."""
    hue = (k * 0.382) % 1.0
    c1 = np.array(colorsys.hsv_to_rgb(hue, 0.55, 0.85))
    c2 = np.array(colorsys.hsv_to_rgb((hue + 0.07) % 1.0, 0.75, 0.35))
    cells = 3 + (k % 3) * 2
    grid = rng.random((cells, cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC))
    field = np.clip((field - field.min()) / max(float(np.ptp(field)), 1e-6), 0, 1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ripple = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * math.cos(k) + yy * math.sin(k)) / ((9 + k % 4) * unit))
    t = np.clip(0.75 * field + 0.25 * ripple, 0, 1)[..., None]
    img = (1 - t) * c1 + t * c2 + rng.normal(0, 0.03, (h, w, 3))
    return np.clip(img, 0, 1)


# ---------------------------------------------------------------------------------------------------
# one image

@dataclass
class Placed:
    """An object drawn into an image: its class and its (half-open) box."""
    cls: int
    box: Box


def _place(rng: np.random.Generator, H: int, W: int, bh: int, bw: int, avoid: list[Box]) -> tuple[int, int]:
    best, best_overlap = (0, 0), None
    for _ in range(8):
        y0 = int(rng.integers(0, H - bh + 1))
        x0 = int(rng.integers(0, W - bw + 1))
        cand = Box(x0, y0, x0 + bw, y0 + bh)
        overlap = sum(cand.intersection(b) for b in avoid)
        if best_overlap is None or overlap < best_overlap:
            best, best_overlap = (x0, y0), overlap
            if overlap == 0:
                break
    return best


def _draw_object(canvas: np.ndarray, k: int, x0: int, y0: int, bh: int, bw: int,
                 rng: np.random.Generator, unit: float) -> Box:
    mask = silhouette(SHAPES[k], bh, bw, float(rng.uniform(-15, 15)))
    ys, xs = np.nonzero(mask)
    hue = rng.random()
    base = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.95), rng.uniform(0.55, 0.95)))
    yy, xx = np.mgrid[y0:y0 + bh, x0:x0 + bw].astype(np.float32)
    tex = texture(k, yy, xx, unit)[..., None]
    obj = np.clip(base * (1.0 + 0.45 * tex) + 0.08 * tex, 0, 1)
    region = canvas[y0:y0 + bh, x0:x0 + bw]
    region[mask] = obj[mask]
    return Box(x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)


@dataclass
class Rendered:
    """One synthetic image: its pixels, the objects in it (main object last) and its scene."""
    rgb: np.ndarray
    placed: list[Placed]
    scene: int


def render_image(cfg: SyntheticConfig, split: str, label: int, index: int) -> Rendered:
    """Render one image (uint8 RGB) of class `label` with the objects placed in it."""
    rng = np.random.default_rng([cfg.seed, SPLIT_ID[split], label, index])
    short = cfg.image_size
    long_ = int(round(short * (1 + rng.uniform(0, cfg.aspect_jitter))))
    H, W = (short, long_) if rng.random() < 0.5 else (long_, short)
    unit = short / 80.0
    scene_k = label if rng.random() < cfg.background_agreement else int(rng.integers(0, cfg.classes))
    canvas = scene(scene_k, H, W, rng, unit)

    def size(scale: float) -> tuple[int, int]:
        s = scale * short
        r = math.exp(rng.uniform(-0.15, 0.15))
        return max(8, min(H, int(s * r))), max(8, min(W, int(s / r)))

    placed: list[Placed] = []
    plan = []
    if rng.random() < cfg.second_object_prob and cfg.classes > 1:
        other = int((label + 1 + rng.integers(0, cfg.classes - 1)) % cfg.classes)
        plan.append((other, rng.uniform(*cfg.object_scale) * 0.7))
    if rng.random() < cfg.extra_true_object_prob:
        plan.append((label, rng.uniform(*cfg.object_scale) * 0.7))
    plan.append((label, rng.uniform(*cfg.object_scale)))
    for k, scale in plan:  # the main object is drawn last, on top
        bh, bw = size(scale)
        x0, y0 = _place(rng, H, W, bh, bw, [p.box for p in placed])
        placed.append(Placed(k, _draw_object(canvas, k, x0, y0, bh, bw, rng, unit)))
    return Rendered((canvas * 255 + 0.5).astype(np.uint8), placed, scene_k)


def encode(rgb: np.ndarray, quirk: str | None, quality: int) -> bytes:
    """JPEG bytes of an RGB array, or the quirky variants real ImageNet holds (CMYK, grayscale, PNG)."""
    img = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    if quirk == "cmyk":
        img.convert("CMYK").save(buf, "JPEG", quality=quality)
    elif quirk == "gray":
        img.convert("L").save(buf, "JPEG", quality=quality)
    elif quirk == "png":
        img.save(buf, "PNG")
    else:
        img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------------
# the whole tree

def _quirk(cfg: SyntheticConfig, split: str, label: int, index: int) -> str | None:
    rng = np.random.default_rng([cfg.seed, SPLIT_ID[split], label, index, 7])
    if rng.random() >= cfg.quirk_fraction:
        return None
    return ("cmyk", "gray", "png")[int(rng.integers(0, 3))]


def _solution_row(image_id: str, placed: list[Placed]) -> str:
    pred = " ".join(f"{wnid(p.cls)} {p.box.xmin} {p.box.ymin} {p.box.xmax} {p.box.ymax}" for p in placed)
    return f"{image_id},{pred}"


def generate(cfg: SyntheticConfig, root: str | Path) -> dict:
    """Write the synthetic dataset under `root` (Kaggle layout) and return a summary."""
    root = Path(root)
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    ann = root / "ILSVRC" / "Annotations" / "CLS-LOC"
    (root / "LOC_synset_mapping.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "LOC_synset_mapping.txt").write_text(
        "".join(f"{wnid(k)} {class_name(k)}, {SHAPES[k]}\n" for k in range(cfg.classes)))
    jobs = []
    for k in range(cfg.classes):
        for n in range(1, cfg.train_per_class + 1):
            jobs.append(("train", k, n, f"{wnid(k)}_{n}"))
    val_labels = np.repeat(np.arange(cfg.classes), cfg.val_per_class)
    np.random.default_rng([cfg.seed, 99]).shuffle(val_labels)
    for i, k in enumerate(val_labels, start=1):
        jobs.append(("val", int(k), i, f"ILSVRC2012_val_{i:08d}"))
    box_rng = np.random.default_rng([cfg.seed, 98])
    rows = {"train": [], "val": []}
    quirks = {"cmyk": 0, "gray": 0, "png": 0}
    for split, k, n, stem in tqdm(jobs, desc="synthetic images", unit="img", mininterval=1.0):
        r = render_image(cfg, split, k, n)
        rgb = r.rgb
        placed = sorted(r.placed, key=lambda p: p.cls != k)  # true class first, as ImageNet lists it
        quirk = _quirk(cfg, split, k, n)
        if quirk:
            quirks[quirk] += 1
        folder = data / split / wnid(k) if split == "train" else data / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{stem}.JPEG").write_bytes(encode(rgb, quirk, cfg.jpeg_quality))
        with_box = split == "val" or box_rng.random() < cfg.train_box_fraction
        if with_box:
            objects = [VocObject(wnid(p.cls), p.box) for p in placed]
            xml_dir = ann / split / wnid(k) if split == "train" else ann / split
            write_voc_xml(xml_dir / f"{stem}.xml", folder=wnid(k) if split == "train" else "val",
                          filename=stem, width=rgb.shape[1], height=rgb.shape[0], objects=objects)
            rows[split].append(_solution_row(stem, placed))
    for split in ("train", "val"):
        (root / f"LOC_{split}_solution.csv").write_text(
            "ImageId,PredictionString\n" + "".join(r + "\n" for r in sorted(rows[split])))
    summary = {"classes": cfg.classes, "train": cfg.train_per_class * cfg.classes,
               "val": cfg.val_per_class * cfg.classes, "quirks": quirks,
               "train_with_boxes": len(rows["train"]), "val_with_boxes": len(rows["val"])}
    log.info("synthetic ImageNet written to %s: %s", root, summary)
    return summary
