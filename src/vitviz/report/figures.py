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


JPEG_QUALITY = 90     # grids of images are photographs: JPEG keeps the self-contained report a few MB, not tens


def save(fig, path: Path, dpi: int = 100) -> None:
    """Save and close a figure, as PNG or (for a .jpg path) JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    fig.savefig(path, dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": JPEG_QUALITY} if jpeg else None)
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


CAPTION_CHARS = 19     # characters of a 10 pt caption line that fit a 145 px cell


def wrap_caption(text: str, width: int = CAPTION_CHARS, lines: int = 2) -> str:
    """`text` wrapped to at most `lines` lines of `width` characters (the last cut with an ellipsis), so that no
    caption runs into its neighbour's."""
    import textwrap
    out = textwrap.wrap(text, width, break_long_words=True) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return "\n".join(out)


def image_grid(rows: list[tuple[str, list[tuple]]], path: Path, cell: float = 1.45, title: str | None = None) -> None:
    """A grid of images: one row per (label, [(caption, image path or array[, map maximum]), ...]); a cell with a
    map maximum is an activation-map overlay and gets a colour bar from 0 to it (the map colours of
    activations.mapnorm). At the saved 100 dpi each image is `cell` inches (145 px) wide, its labels 10 pt."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize
    from PIL import Image

    from vitviz.activations.mapnorm import JET
    ncols, nrows = max((len(r[1]) for r in rows), default=1), len(rows)
    bars = any(len(c) > 2 for _, cells in rows for c in cells)
    caption_lines = max((wrap_caption(c[0]).count("\n") + 1 for _, cells in rows for c in cells), default=1)
    # every length in inches: the axes are exactly cell x cell, the gaps hold the captions and colour bars
    left, right, bottom = 1.8, (0.6 if bars else 0.1), 0.1
    head = 0.18 * caption_lines + 0.12
    top = head + (0.4 if title else 0.0)
    wgap, hgap = (0.6 if bars else 0.12), head + 0.1
    width = left + ncols * cell + (ncols - 1) * wgap + right
    height = top + nrows * cell + (nrows - 1) * hgap + bottom
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(nrows, ncols, left=left / width, right=1 - right / width, bottom=bottom / height,
                            top=1 - top / height, wspace=wgap / cell, hspace=hgap / cell)
    cmap = ListedColormap(JET / 255.0)
    for r, (label, cells) in enumerate(rows):
        for c in range(ncols):
            ax = fig.add_subplot(grid[r, c])
            ax.set_xticks([]), ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            caption, img = cells[c][:2]
            ax.imshow(Image.open(img) if isinstance(img, (str, Path)) else img)
            ax.set_title(wrap_caption(caption), fontsize=10, pad=3)
            if len(cells[c]) > 2:
                top_value = float(cells[c][2])
                bar = fig.colorbar(ScalarMappable(Normalize(0.0, top_value if top_value > 0 else 1.0), cmap),
                                   cax=ax.inset_axes([1.04, 0.0, 0.07, 1.0]))
                bar.set_ticks([0.0, top_value] if top_value > 0 else [0.0],
                              labels=["0", f"{top_value:.3g}"] if top_value > 0 else ["0"])
                bar.ax.tick_params(labelsize=8, length=2)
            if c == 0:
                ax.set_ylabel(wrap_caption(label, 16, 3), rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    save(fig, path, dpi=100)
