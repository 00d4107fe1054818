"""Matplotlib figures of the report, saved as PNG."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from vitviz.data.imagenet import DatasetIndex, try_load_rgb  # noqa: E402


def save(fig, path: Path, dpi: int = 100) -> None:
    """Save and close a figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def sample_grid(index: DatasetIndex, split: str, per_class: int, path: Path, max_classes: int = 16) -> None:
    """A grid of images, one row per class, with the true-class boxes drawn; undecodable files are passed over."""
    df = index.split(split)
    classes = list(range(min(len(index.wnids), max_classes)))
    fig, axes = plt.subplots(len(classes), per_class, figsize=(1.1 * per_class + 2.2, 1.1 * len(classes)),
                             squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.08})
    for r, k in enumerate(classes):
        rows = df[df["label"] == k]
        rows = pd.concat([rows[rows["boxes"] != "[]"], rows[rows["boxes"] == "[]"]])
        shown = []
        for row in rows.itertuples():
            if len(shown) == per_class:
                break
            if (img := try_load_rgb(index.image_path(row.path))) is not None:
                shown.append((img, row.boxes))
        for c in range(per_class):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(shown):
                ax.axis("off")
                continue
            img, boxes = shown[c]
            ax.imshow(img)
            for x0, y0, x1, y1 in json.loads(boxes):
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.5, ec="#00e000"))
            if c == 0:
                ax.set_ylabel(index.short_names[k], rotation=0, ha="right", va="center", fontsize=8)
    save(fig, path, dpi=80)


def training_curves(histories: dict[str, pd.DataFrame], path: Path) -> None:
    """Per-epoch training loss and validation top-1 of the trained models."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, h in histories.items():
        a.plot(h["epoch"], h["train_loss"], marker=".", label=key)
        b.plot(h["epoch"], h["val_top1"], marker=".", label=key)
    a.set_xlabel("epoch"), a.set_ylabel("train loss"), b.set_xlabel("epoch"), b.set_ylabel("val top-1 (%)")
    b.legend(fontsize=8)
    save(fig, path)


def image_grid(rows: list[tuple[str, list[tuple[str, object]]]], path: Path, cell: float = 1.45,
               title: str | None = None) -> None:
    """A grid of images: one row per (label, [(caption, image path or array), ...]); at the saved 100 dpi a cell is
    at least 145 px wide and its labels 10 pt."""
    from PIL import Image
    ncols = max((len(r[1]) for r in rows), default=1)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(cell * ncols + 1.8, (cell + 0.25) * len(rows)
                                                        + (0.4 if title else 0)),
                             squeeze=False, gridspec_kw={"wspace": 0.08, "hspace": 0.35})
    for r, (label, cells) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            caption, img = cells[c]
            ax.imshow(Image.open(img) if isinstance(img, (str, Path)) else img)
            ax.set_title(caption, fontsize=10, pad=3)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    save(fig, path, dpi=100)
