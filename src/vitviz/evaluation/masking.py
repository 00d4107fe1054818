"""Foreground/background masking (paper section 5, authors' code): true-class boxes filled at original
resolution, before the model's resize and centre crop."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from PIL import Image

from vitviz.data.imagenet import DatasetIndex
from vitviz.data.rows import spread_rows
from vitviz.evaluation.loop import classified_rows, count_hits, label_map, topk_hits
from vitviz.models.store import LoadedModel

log = logging.getLogger(__name__)
VARIANTS = ("full", "foreground", "background")


def box_mask(height: int, width: int, boxes: list[list[int]], device: str | torch.device = "cpu") -> torch.Tensor:
    """Boolean (H, W): true inside any box [xmin, ymin, xmax, ymax] (half-open; see `fix_box` for the geometry)."""
    m = torch.zeros((height, width), dtype=torch.bool, device=device)
    for box in boxes:
        (x0, y0, x1, y1), _, _ = fix_box(box, height, width)
        if x1 > x0 and y1 > y0:
            m[y0:y1, x0:x1] = True
    return m


def fix_box(box: list[int], height: int | None = None, width: int | None = None
            ) -> tuple[tuple[int, int, int, int], bool, bool]:
    """A box [xmin, ymin, xmax, ymax] made well-formed: inverted sides swapped, then clipped to the image
    (to 0 only when the size is not given). Returns (box, swapped, clipped)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    swapped = x0 > x1 or y0 > y1
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1 = x1 if width is None else min(width, x1)
    cy1 = y1 if height is None else min(height, y1)
    cx1, cy1 = max(cx0, cx1), max(cy0, cy1)
    clipped = (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1)
    return (cx0, cy0, cx1, cy1), swapped, clipped


def box_geometry(index: DatasetIndex, split: str, rows: list[int], boxes: list[list[list[int]]]) -> dict[str, int]:
    """How many true-class boxes of `rows` masking swaps (inverted) and clips (outside the image; sizes read
    from the image headers)."""
    paths = index.split(split)["path"]
    swapped = clipped = 0
    for r in rows:
        if not boxes[r]:
            continue
        try:
            with Image.open(index.image_path(paths.iloc[r])) as im:
                w, h = im.size
        except (OSError, ValueError):  # undecodable: the loader skips and counts it
            continue
        for b in boxes[r]:
            _, s, c = fix_box(b, h, w)
            swapped, clipped = swapped + s, clipped + c
    return {"boxes_swapped": swapped, "boxes_clipped": clipped}


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
              batch_size: int = 64, device: str | torch.device = "cpu", without_true_box: str = "keep") -> dict:
    """Top-1/top-5 on full, foreground-only and background-only inputs of the annotated images (box XML).

    As the authors' code, an annotated image with no box of its true class is kept by default (foreground all
    black, background the full image); `without_true_box="exclude"` drops it. Each image is decoded once; its
    three variants go through the model's eval transform and one batch. Images that cannot be decoded are
    skipped and counted; so are the rows whose class the model lacks and the images without a box XML.
    """
    if without_true_box not in ("keep", "exclude"):
        raise ValueError(f"without_true_box must be keep or exclude, not {without_true_box!r}")
    spec = loaded.spec
    mapping = label_map(index.wnids, spec.class_wnids)
    boxes = index.boxes(split)
    annotated = index.split(split)["annotated"].astype(bool).tolist()
    known = classified_rows(index, split, limit, mapping)
    lacks_class = len(spread_rows(len(boxes), limit)) - len(known)
    with_xml = [r for r in known if annotated[r]]
    no_true_box = sum(1 for r in with_xml if not boxes[r])
    with_box = with_xml if without_true_box == "keep" else [r for r in with_xml if boxes[r]]
    geometry = box_geometry(index, split, with_box, boxes)
    log.info("mask eval %s: %d images (%d without a true-class box, %s), %d without a box XML, "
             "%d of classes the model lacks", spec.key, len(with_box), no_true_box,
             "kept" if without_true_box == "keep" else "excluded", len(known) - len(with_xml), lacks_class)

    def score(b, t):
        logits = loaded.classify(b.x).view(len(b), len(VARIANTS), -1)
        return torch.stack([topk_hits(logits[:, j], t) for j in range(len(VARIANTS))])

    hits, seen, skipped = count_hits(loaded, index, split, with_box, batch_size, device, score, (len(VARIANTS), 2),
                                     variants=MaskedViews(boxes, fill_value(fill, spec.mean)),
                                     desc=f"mask eval {spec.key}")
    correct = {v: {1: c1, 5: c5} for v, (c1, c5) in zip(VARIANTS, hits.tolist())}
    acc = {v: {f"top{k}": 100.0 * correct[v][k] / max(seen, 1) for k in (1, 5)} for v in VARIANTS}
    out = {"split": split, "fill": fill, "without_true_box": without_true_box, "images": seen,
           "without_true_box_images": no_true_box,
           "excluded_without_true_box": no_true_box if without_true_box == "exclude" else 0,
           "excluded_not_annotated": len(known) - len(with_xml), "excluded_model_lacks_class": lacks_class,
           "skipped": skipped, **geometry, "chance_top1": 100.0 / max(spec.num_classes, 1)}
    for v in VARIANTS:
        out.update({f"{v}_top1": acc[v]["top1"], f"{v}_top5": acc[v]["top5"]})
    for v in ("foreground", "background"):
        for k in (1, 5):
            out[f"{v}_rel_top{k}"] = relative(acc[v][f"top{k}"], acc["full"][f"top{k}"])
    return out
