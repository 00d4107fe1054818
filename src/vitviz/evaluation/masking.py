"""Foreground/background masking (paper section 5, authors' code): true-class boxes filled at original
resolution, before the model's resize and centre crop."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from vitviz.data.imagenet import DatasetIndex
from vitviz.evaluation.loop import classified_rows, count_hits, label_map, spread_rows, topk_hits
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)
VARIANTS = ("full", "foreground", "background")


def box_mask(height: int, width: int, boxes: list[list[int]], device: str | torch.device = "cpu") -> torch.Tensor:
    """Boolean (H, W): true inside any box [xmin, ymin, xmax, ymax] (half-open, clipped to the image)."""
    m = torch.zeros((height, width), dtype=torch.bool, device=device)
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(width, int(x1)), min(height, int(y1))
        if x1 > x0 and y1 > y0:
            m[y0:y1, x0:x1] = True
    return m


def mask_variants(img: torch.Tensor, boxes: list[list[int]], fill: tuple[int, int, int] = (0, 0, 0)
                  ) -> dict[str, torch.Tensor]:
    """The full image (H, W, 3), foreground only (outside the boxes filled) and background only (the boxes filled)."""
    inside = box_mask(img.shape[0], img.shape[1], boxes, img.device)[..., None]
    flat = torch.empty_like(img)
    for c, v in enumerate(fill):  # scalar fills: nothing is copied to the device
        flat[..., c] = int(v)
    return {"full": img, "foreground": torch.where(inside, img, flat), "background": torch.where(inside, flat, img)}


@dataclass
class MaskedViews:
    """The VARIANTS of an image at a split row, from that row's true-class boxes (picklable for DataLoader workers)."""
    boxes: list[list[list[int]]]
    fill: tuple[int, int, int]

    def __call__(self, img: torch.Tensor, row: int) -> list[torch.Tensor]:
        v = mask_variants(img, self.boxes[row], self.fill)
        return [v[name] for name in VARIANTS]


def fill_value(kind: str, mean: tuple[float, float, float]) -> tuple[int, int, int]:
    """The fill in uint8 pixels: black, or the model's normalisation mean (zero after normalisation)."""
    return (0, 0, 0) if kind == "black" else tuple(int(m * 255 + 0.5) for m in mean)


def relative(acc: float, full: float) -> float:
    """100 * acc / full, the paper's normalisation; NaN when the full-image accuracy is 0."""
    return 100.0 * acc / full if full > 0 else float("nan")


@torch.no_grad()
def mask_eval(loaded: LoadedModel, index: DatasetIndex, split: str, fill: str = "black", limit: int = 0,
              batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """Top-1/top-5 on full, foreground-only and background-only inputs of the images with true-class boxes.

    Each image is decoded once; its three variants go through the model's eval transform and one batch.
    Images that cannot be decoded are skipped and counted.
    """
    spec = loaded.spec
    mapping = label_map(index.wnids, spec.class_wnids)
    boxes = index.boxes(split)
    with_box = [r for r in classified_rows(index, split, limit, mapping) if boxes[r]]
    excluded = len(spread_rows(len(boxes), limit)) - len(with_box)

    def score(b, t):
        logits = loaded.classify(b.x).view(len(b), len(VARIANTS), -1)
        return torch.stack([topk_hits(logits[:, j], t) for j in range(len(VARIANTS))])

    hits, seen, skipped = count_hits(loaded, index, split, with_box, batch_size, device, score, (len(VARIANTS), 2),
                                     variants=MaskedViews(boxes, fill_value(fill, spec.mean)),
                                     desc=f"mask eval {spec.key}")
    correct = {v: {1: c1, 5: c5} for v, (c1, c5) in zip(VARIANTS, hits.tolist())}
    acc = {v: {f"top{k}": 100.0 * correct[v][k] / max(seen, 1) for k in (1, 5)} for v in VARIANTS}
    out = {"split": split, "fill": fill, "images": seen, "excluded_without_box": excluded, "skipped": skipped,
           "chance_top1": 100.0 / max(spec.num_classes, 1)}
    for v in VARIANTS:
        out.update({f"{v}_top1": acc[v]["top1"], f"{v}_top5": acc[v]["top5"]})
    for v in ("foreground", "background"):
        for k in (1, 5):
            out[f"{v}_rel_top{k}"] = relative(acc[v][f"top{k}"], acc["full"][f"top{k}"])
    return out
