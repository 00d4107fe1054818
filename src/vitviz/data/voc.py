"""PASCAL-VOC box XMLs with ImageNet's schema: reading the true-class boxes, and writing them."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from vitviz.core.errors import AnnotationError


@dataclass(frozen=True)
class Box:
    """A box in original pixel coordinates, half-open: rows ymin..ymax-1, columns xmin..xmax-1."""
    xmin: int
    ymin: int
    xmax: int
    ymax: int

    def intersection(self, other: "Box") -> int:
        """Area shared with `other`, in pixels."""
        w = min(self.xmax, other.xmax) - max(self.xmin, other.xmin)
        h = min(self.ymax, other.ymax) - max(self.ymin, other.ymin)
        return max(0, w) * max(0, h)

    def as_list(self) -> list[int]:
        return [self.xmin, self.ymin, self.xmax, self.ymax]


@dataclass(frozen=True)
class VocObject:
    """One annotated object: its wnid and box."""
    name: str
    box: Box


def write_voc_xml(path: str | Path, *, folder: str, filename: str, width: int, height: int,
                  objects: list[VocObject]) -> None:
    """Write an ImageNet-style annotation file."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = filename
    src = ET.SubElement(root, "source")
    ET.SubElement(src, "database").text = "ILSVRC_2012"
    size = ET.SubElement(root, "size")
    for tag, val in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(val)
    ET.SubElement(root, "segmented").text = "0"
    for obj in objects:
        o = ET.SubElement(root, "object")
        ET.SubElement(o, "name").text = obj.name
        ET.SubElement(o, "pose").text = "Unspecified"
        ET.SubElement(o, "truncated").text = "0"
        ET.SubElement(o, "difficult").text = "0"
        bb = ET.SubElement(o, "bndbox")
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            ET.SubElement(bb, tag).text = str(getattr(obj.box, tag))
    ET.indent(root, space="\t")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(root, encoding="utf-8"))


def _root(path: str | Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationError(f"{path}: malformed box XML ({exc})") from exc
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read box XML ({exc.strerror or exc})") from exc


def _size(root: ET.Element) -> tuple[int, int] | None:
    size = root.find("size")
    try:
        w, h = (int(float(size.findtext(t, "0"))) for t in ("width", "height")) if size is not None else (0, 0)
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _objects(root: ET.Element, path: str | Path) -> list[VocObject]:
    out = []
    for o in root.iter("object"):
        bb = o.find("bndbox")
        if bb is None:
            continue
        try:
            vals = [int(float(bb.findtext(t, "0"))) for t in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError as exc:
            raise AnnotationError(f"{path}: box coordinate is not a number ({exc})") from exc
        out.append(VocObject((o.findtext("name") or "").strip(), Box(*vals)))
    return out


def read_voc_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from an annotation's <size>, or None when absent or not positive."""
    return _size(_root(path))


def read_voc_objects(path: str | Path) -> list[VocObject]:
    """All objects of an annotation file, in file order; a file that cannot be read raises AnnotationError."""
    return _objects(_root(path), path)


def clean_box(box: Box, size: tuple[int, int] | None, counts: Counter | None = None) -> Box | None:
    """The box with swapped corners put in order and clipped to the image (`size` = (width, height)).

    Counts "box_inverted", "box_clipped" and "box_empty" (no area left, returned as None) into `counts`.
    """
    counts = counts if counts is not None else Counter()
    x0, y0, x1, y1 = box.as_list()
    if x1 < x0 or y1 < y0:
        counts["box_inverted"] += 1
        x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    if size is not None:
        w, h = size
        c = (max(0, min(x0, w)), max(0, min(y0, h)), max(0, min(x1, w)), max(0, min(y1, h)))
        if c != (x0, y0, x1, y1):
            counts["box_clipped"] += 1
        x0, y0, x1, y1 = c
    else:
        if min(x0, y0) < 0:
            counts["box_clipped"] += 1
        x0, y0 = max(0, x0), max(0, y0)
    if x1 <= x0 or y1 <= y0:
        counts["box_empty"] += 1
        return None
    return Box(x0, y0, x1, y1)


def true_class_boxes(path: str | Path, wnid: str, counts: Counter | None = None) -> list[Box]:
    """The boxes of class `wnid` in an annotation file, cleaned (`clean_box`); other classes are ignored."""
    root = _root(path)
    objs = [o.box for o in _objects(root, path) if o.name == wnid]
    size = _size(root)
    return [b for b in (clean_box(b, size, counts) for b in objs) if b is not None]
