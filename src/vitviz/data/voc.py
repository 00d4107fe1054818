"""PASCAL-VOC box XMLs with ImageNet's schema: reading the true-class boxes, and writing them."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


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


def read_voc_objects(path: str | Path) -> list[VocObject]:
    """All objects of an annotation file, in file order."""
    tree = ET.parse(path)
    out = []
    for o in tree.getroot().iter("object"):
        bb = o.find("bndbox")
        if bb is None:
            continue
        vals = [int(float(bb.findtext(t, "0"))) for t in ("xmin", "ymin", "xmax", "ymax")]
        out.append(VocObject((o.findtext("name") or "").strip(), Box(*vals)))
    return out


def true_class_boxes(path: str | Path, wnid: str) -> list[Box]:
    """The boxes of class `wnid` in an annotation file; objects of other classes are ignored."""
    return [o.box for o in read_voc_objects(path) if o.name == wnid]
