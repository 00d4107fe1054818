"""One reader for the real ImageNet and the synthetic one: layout, labels, true-class boxes, an index.

Accepted layouts under a root:
  Kaggle:       [ILSVRC/]Data/CLS-LOC/train/<wnid>/*.JPEG, flat [ILSVRC/]Data/CLS-LOC/val/*.JPEG with
                LOC_val_solution.csv, boxes in [ILSVRC/]Annotations/CLS-LOC/{train,val}/
  class folders: train/<wnid>/*, val/<wnid>/* (as the common valprep script leaves it); boxes in
                Annotation/<wnid>/*.xml (ILSVRC2012_bbox_train) or Annotations/CLS-LOC/{train,val}/
"""
from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

import numpy as np

from vitviz.data.voc import read_voc_objects, true_class_boxes
from vitviz.core.errors import AnnotationError, DatasetLayoutError, ImageDecodeError  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

IMAGE_EXTS = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}
WNID = re.compile(r"n\d+")
MAX_WARNINGS = 20   # per kind of fault and split; the rest are counted only
EXPECTED = ("expected <root>/[ILSVRC/]Data/CLS-LOC/{train,val} (Kaggle layout) "
            "or <root>/{train,val}/<wnid>/ (class folders)")


@dataclass
class Layout:
    """Where a dataset root keeps its splits, boxes and label files."""
    root: Path
    data_dir: Path                 # holds train/ and val/
    ann_dirs: dict[str, list[Path]]
    synset_mapping: Path | None
    solutions: dict[str, Path]

    def split_dir(self, split: str) -> Path:
        d = self.data_dir / split
        if not d.is_dir():
            raise DatasetLayoutError(f"{d}: split '{split}' not found; {EXPECTED}")
        return d


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.exists()), None)


def find_layout(root: str | Path) -> Layout:
    """Recognise the layout of an ImageNet root; a one-line error names the expected layout."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset root not found; {EXPECTED}")
    bases = [root / "ILSVRC", root]
    data_dir = _first_existing([b / "Data" / "CLS-LOC" for b in bases]) or (
        root if (root / "train").is_dir() or (root / "val").is_dir() else None)
    if data_dir is None:
        raise DatasetLayoutError(f"{root}: no ImageNet layout found; {EXPECTED}")
    ann_dirs = {}
    for split in ("train", "val"):
        cands = [b / "Annotations" / "CLS-LOC" / split for b in bases]
        if split == "train":
            cands.append(root / "Annotation")
        ann_dirs[split] = [c for c in cands if c.is_dir()]
    search = [root, root.parent, data_dir.parent, data_dir.parent.parent]
    mapping = _first_existing([d / "LOC_synset_mapping.txt" for d in search])
    solutions = {s: p for s in ("train", "val")
                 if (p := _first_existing([d / f"LOC_{s}_solution.csv" for d in search]))}
    return Layout(root, data_dir, ann_dirs, mapping, solutions)


def read_synset_mapping(path: Path) -> dict[str, str]:
    """wnid -> human name, from LOC_synset_mapping.txt ("n01440764 tench, Tinca tinca")."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            w, _, name = line.strip().partition(" ")
            out[w] = name.strip()
    return out


def _read_solution_labels(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(f)
                if row.get("PredictionString", "").strip()}


def _walk_images(folder: Path, counts: Counter | None = None) -> list[Path]:
    """Image files under `folder` in sorted order; other files are counted as "non_image_files"."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for f in sorted(filenames):
            if Path(f).suffix.lower() in IMAGE_EXTS:
                out.append(Path(dirpath) / f)
            elif counts is not None and not f.startswith("."):
                counts["non_image_files"] += 1
    return out


def _has_image(folder: Path) -> bool:
    return any(Path(f).suffix.lower() in IMAGE_EXTS for _, _, files in os.walk(folder) for f in files)


def _xml_index(dirs: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for d in dirs:
        for dirpath, _, filenames in os.walk(d):
            for f in filenames:
                if f.endswith(".xml"):
                    out.setdefault(f[:-4], Path(dirpath) / f)
    return out


def class_list(layout: Layout, empty: list[str] | None = None) -> list[str]:
    """Sorted wnids of the dataset (torchvision ImageFolder order).

    Class folders without an image are left out with a warning (their names go to `empty`); folders that are
    not named by WordNet ids raise a one-line DatasetLayoutError.
    """
    for split in ("train", "val"):
        d = layout.data_dir / split
        if d.is_dir():
            subdirs = sorted(p.name for p in d.iterdir() if p.is_dir())
            if subdirs:
                bad = [n for n in subdirs if not WNID.fullmatch(n)]
                if bad:
                    raise DatasetLayoutError(
                        f"{d}: {len(bad)} class folder(s) not named by WordNet ids ({', '.join(map(repr, bad[:3]))}"
                        f"{', ...' if len(bad) > 3 else ''}); rename them to their wnids (n01440764, ...) as "
                        "LOC_synset_mapping.txt lists them, so that labels match the models' classes")
                kept = [n for n in subdirs if _has_image(d / n)]
                for n in sorted(set(subdirs) - set(kept)):
                    log.warning("%s: empty class folder, left out of the classes", d / n)
                    if empty is not None:
                        empty.append(n)
                if kept:
                    return kept
    if layout.synset_mapping:
        return sorted(read_synset_mapping(layout.synset_mapping))
    raise DatasetLayoutError(f"{layout.root}: no class folders and no LOC_synset_mapping.txt; {EXPECTED}")


def _warn(counts: Counter, kind: str, split: str, msg: str) -> None:
    counts[kind] += 1
    if counts[kind] <= MAX_WARNINGS:
        log.warning("%s: skipped: %s", split, msg)
    elif counts[kind] == MAX_WARNINGS + 1:
        log.warning("%s: more %s; counted in the index metadata only", split, kind.replace("_", " "))


def scan_split(layout: Layout, split: str, wnids: list[str], counts: Counter | None = None) -> pd.DataFrame:
    """One row per image of `split`: path (relative to the root), label, wnid, annotated, boxes (JSON).

    Faults are skipped, logged and counted into `counts`: "xml_unreadable" (the image stays, without boxes),
    "xml_without_true_box" (readable, but no box of the image's class: it does not count as with a true box),
    "box_inverted", "box_clipped", "box_empty" (see voc.clean_box), "unlabeled", "non_image_files".
    """
    counts = counts if counts is not None else Counter()
    d = layout.split_dir(split)
    files = _walk_images(d, counts)
    if not files:
        raise DatasetLayoutError(f"{d}: no images in split '{split}'; {EXPECTED}")
    label_of = {w: i for i, w in enumerate(wnids)}
    flat_labels = None
    xmls = _xml_index(layout.ann_dirs.get(split, []))
    rows, unlabeled = [], 0
    for p in tqdm(files, desc=f"index {split}", unit="img", mininterval=2.0):
        stem = p.stem
        if p.parent != d:
            w = p.parent.name
        else:  # flat folder: labels from LOC_<split>_solution.csv, else from the box XML
            if flat_labels is None:
                flat_labels = _read_solution_labels(layout.solutions[split]) if split in layout.solutions else {}
            w = flat_labels.get(stem)
            if w is None and stem in xmls:
                try:
                    objs = read_voc_objects(xmls[stem])
                except AnnotationError:
                    objs = []
                w = objs[0].name if objs else None
        if w not in label_of:
            unlabeled += 1
            continue
        xml = xmls.get(stem)
        boxes = []
        if xml is not None:
            try:
                boxes = [b.as_list() for b in true_class_boxes(xml, w, counts)]
            except AnnotationError as exc:
                _warn(counts, "xml_unreadable", split, str(exc))
                xml = None
            else:
                if not boxes:
                    counts["xml_without_true_box"] += 1
        rows.append({"path": p.relative_to(layout.root).as_posix(), "label": label_of[w], "wnid": w,
                     "annotated": xml is not None, "boxes": json.dumps(boxes)})
    if unlabeled:
        counts["unlabeled"] += unlabeled
        log.warning("%s: %d images without a known label were skipped", split, unlabeled)
    for kind in ("box_inverted", "box_clipped", "box_empty"):
        if counts[kind]:
            log.warning("%s: %d %s (%s)", split, counts[kind], kind.replace("_", " "),
                        {"box_inverted": "corners put in order", "box_clipped": "clipped to the image",
                         "box_empty": "no area left, dropped"}[kind])
    if counts["non_image_files"]:
        log.warning("%s: %d files that are not images were ignored", split, counts["non_image_files"])
    if not rows:
        raise DatasetLayoutError(f"{d}: no labelled images in split '{split}'; flat val folders need "
                                 "LOC_val_solution.csv or box XMLs beside the layout")
    return pd.DataFrame(rows)


def build_index(root: str | Path, out_dir: str | Path, root_ref: str | None = None) -> dict:
    """Index `root` into `out_dir` (classes.csv, train.csv, val.csv, meta.json); return the meta."""
    layout = find_layout(root)
    empty: list[str] = []
    wnids = class_list(layout, empty)
    names = read_synset_mapping(layout.synset_mapping) if layout.synset_mapping else {}
    if not names:
        try:
            from timm.data import ImageNetInfo
            info = ImageNetInfo()
            names = dict(zip(info.label_names(), info.label_descriptions()))
        except Exception:  # pragma: no cover - timm is a dependency, this is only a fallback
            names = {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"label": range(len(wnids)), "wnid": wnids,
                  "name": [names.get(w, w) for w in wnids]}).to_csv(out_dir / "classes.csv", index=False)
    counts, skipped = {}, {}
    for split in ("train", "val"):
        if (layout.data_dir / split).is_dir():
            faults: Counter = Counter()
            df = scan_split(layout, split, wnids, faults)
            df.to_csv(out_dir / f"{split}.csv", index=False)
            counts[split] = {"images": len(df), "annotated": int(df["annotated"].sum()),
                             "with_true_box": int((df["boxes"] != "[]").sum())}
            skipped[split] = {k: int(v) for k, v in sorted(faults.items()) if v}
    meta = {"root": root_ref if root_ref is not None else str(Path(root).resolve()),
            "classes": len(wnids), "splits": counts,
            "faults": {"empty_class_folders": empty, **skipped}}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def first_synonym(name: str) -> str:
    """The first of a class description's comma-separated synonyms."""
    return str(name).split(",")[0].strip()


@dataclass
class DatasetIndex:
    """A prepared dataset: its classes and per-split image tables, with paths resolved."""
    root: Path
    classes: pd.DataFrame
    splits: dict[str, pd.DataFrame]

    @property
    def wnids(self) -> list[str]:
        return list(self.classes["wnid"])

    @property
    def names(self) -> list[str]:
        return list(self.classes["name"])

    @property
    def short_names(self) -> list[str]:
        """Each class's first synonym ("tench" of "tench, Tinca tinca"), for labels."""
        return [first_synonym(n) for n in self.classes["name"]]

    def split(self, name: str) -> pd.DataFrame:
        if name not in self.splits:
            raise DatasetLayoutError(f"split '{name}' is not in the prepared index (have: {', '.join(self.splits)})")
        return self.splits[name]

    def image_path(self, rel: str) -> Path:
        return self.root / rel

    def boxes(self, split: str) -> list[list[list[int]]]:
        return [json.loads(b) for b in self.split(split)["boxes"]]


def read_index(index_dir: str | Path) -> DatasetIndex:
    """Load an index written by `build_index`; relative roots resolve against the index folder's parent."""
    index_dir = Path(index_dir)
    meta_path = index_dir / "meta.json"
    if not meta_path.exists():
        raise DatasetLayoutError(f"{index_dir}: no prepared dataset index; run the prepare_data stage first")
    meta = json.loads(meta_path.read_text())
    root = Path(meta["root"])
    if not root.is_absolute():
        root = (index_dir / root).resolve()
    splits = {s: pd.read_csv(index_dir / f"{s}.csv", keep_default_na=False)
              for s in ("train", "val") if (index_dir / f"{s}.csv").exists()}
    return DatasetIndex(root, pd.read_csv(index_dir / "classes.csv", keep_default_na=False), splits)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I"):   # 16-bit (and 32-bit integer) grayscale: scale to 8 bits, PIL would clip at 255
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        im = Image.fromarray((a.clip(0, top) * (255.0 / top) + 0.5).astype(np.uint8), "L")
    elif im.mode == "F":          # float grayscale: taken as [0, 1]
        im = Image.fromarray((np.asarray(im).clip(0, 1) * 255 + 0.5).astype(np.uint8), "L")
    return im.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode any image file (CMYK, grayscale, 16-bit, palette, PNG named .JPEG) as an RGB PIL image."""
    try:
        with Image.open(path) as im:
            im.load()
            return _to_rgb(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(f"{path}: cannot decode image ({exc})") from exc


def try_load_rgb(path: str | Path, skipped: Counter | None = None) -> Image.Image | None:
    """`load_rgb`, or None for an undecodable file (logged, and counted as skipped["undecodable"])."""
    try:
        return load_rgb(path)
    except ImageDecodeError as exc:
        log.warning("skipped: %s", exc)
        if skipped is not None:
            skipped["undecodable"] += 1
        return None
