"""Foreground/background masking (paper section 5, authors' code): true-class boxes filled at original
resolution, before the model's resize and centre crop."""
from __future__ import annotations

import logging

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .distributed import all_sum, context, shard
from .evaluate import label_map, spread_rows, topk_correct
from .imagenet import DatasetIndex, ImageDecodeError, load_rgb
from .zoo import LoadedModel

log = logging.getLogger(__name__)
VARIANTS = ("full", "foreground", "background")


def box_mask(height: int, width: int, boxes: list[list[int]]) -> np.ndarray:
    """Boolean (H, W): true inside any box [xmin, ymin, xmax, ymax] (half-open, clipped to the image)."""
    m = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(width, int(x1)), min(height, int(y1))
        if x1 > x0 and y1 > y0:
            m[y0:y1, x0:x1] = True
    return m


def mask_variants(img: np.ndarray, boxes: list[list[int]], fill: np.ndarray | float = 0) -> dict[str, np.ndarray]:
    """The full image, foreground only (outside the boxes filled) and background only (the boxes filled)."""
    inside = box_mask(img.shape[0], img.shape[1], boxes)[..., None]
    fill = np.broadcast_to(np.asarray(fill, dtype=img.dtype), img.shape)
    return {"full": img, "foreground": np.where(inside, img, fill), "background": np.where(inside, fill, img)}


def fill_value(kind: str, mean: tuple[float, float, float]) -> np.ndarray:
    """The fill in uint8 pixels: black, or the model's normalisation mean (zero after normalisation)."""
    return np.zeros(3, np.uint8) if kind == "black" else (np.asarray(mean) * 255 + 0.5).astype(np.uint8)


def relative(acc: float, full: float) -> float:
    """100 * acc / full, the paper's normalisation; NaN when the full-image accuracy is 0."""
    return 100.0 * acc / full if full > 0 else float("nan")


@torch.no_grad()
def mask_eval(loaded: LoadedModel, index: DatasetIndex, split: str, fill: str = "black", limit: int = 0,
              batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """Top-1/top-5 on full, foreground-only and background-only inputs of the images with true-class boxes.

    Each image is decoded once; its three variants go through the model's eval transform and one batch.
    """
    spec = loaded.spec
    mapping = label_map(index.wnids, spec.class_wnids)
    df = index.split(split)
    boxes = index.boxes(split)
    rows = spread_rows(len(df), limit)
    with_box = [r for r in rows if boxes[r] and mapping[int(df["label"].iloc[r])] >= 0]
    excluded = len(rows) - len(with_box)
    fillv = fill_value(fill, spec.mean)
    loaded.model.to(device)
    correct = {v: {1: 0, 5: 0} for v in VARIANTS}
    seen = skipped = 0
    ctx = context()
    with_box = shard(with_box, ctx)
    for start in tqdm(range(0, len(with_box), batch_size), desc=f"mask eval {spec.key}", unit="batch",
                      mininterval=2.0):
        xs, ys = [], []
        for r in with_box[start:start + batch_size]:
            try:
                img = np.asarray(load_rgb(index.image_path(df["path"].iloc[r])))
            except ImageDecodeError as exc:
                log.warning("skipped: %s", exc)
                skipped += 1
                continue
            variants = mask_variants(img, boxes[r], fillv)
            xs += [loaded.transform(Image.fromarray(variants[v])) for v in VARIANTS]
            ys.append(int(mapping[int(df["label"].iloc[r])]))
        if not ys:
            continue
        logits = loaded.classify(torch.stack(xs).to(device)).float().cpu().view(len(ys), len(VARIANTS), -1)
        y = torch.tensor(ys)
        for j, v in enumerate(VARIANTS):
            c = topk_correct(logits[:, j], y)
            correct[v][1] += c[1]
            correct[v][5] += c[5]
        seen += len(ys)
    flat = [correct[v][k] for v in VARIANTS for k in (1, 5)] + [seen, skipped]
    summed = [int(x) for x in all_sum(torch.tensor(flat), ctx)]
    correct = {v: {k: summed[2 * j + (k == 5)] for k in (1, 5)} for j, v in enumerate(VARIANTS)}
    seen, skipped = summed[-2], summed[-1]
    acc = {v: {f"top{k}": 100.0 * correct[v][k] / max(seen, 1) for k in (1, 5)} for v in VARIANTS}
    out = {"split": split, "fill": fill, "images": seen, "excluded_without_box": excluded, "skipped": skipped,
           "chance_top1": 100.0 / max(spec.num_classes, 1)}
    for v in VARIANTS:
        out.update({f"{v}_top1": acc[v]["top1"], f"{v}_top5": acc[v]["top5"]})
    for v in ("foreground", "background"):
        for k in (1, 5):
            out[f"{v}_rel_top{k}"] = relative(acc[v][f"top{k}"], acc["full"][f"top{k}"])
    return out
