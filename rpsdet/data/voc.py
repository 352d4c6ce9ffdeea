"""PASCAL VOC XML (LabelImg / ModelArts export): 1-based inclusive integer pixel boxes."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


class VocError(ValueError):
    """An annotation file that cannot be used, with a message naming the file and what is wrong."""


@dataclass
class VocObject:
    name: str
    box: tuple[float, float, float, float]  # xyxy, 0-based, x2/y2 exclusive (continuous pixel edges)


@dataclass
class VocRecord:
    filename: str
    width: int
    height: int
    depth: int = 3
    objects: list[VocObject] = field(default_factory=list)


def write_voc(path: Path, record: VocRecord, folder: str = "JPEGImages") -> None:
    """Write one annotation; boxes become VOC's 1-based inclusive integers (xmin = x1 + 1, xmax = x2)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = record.filename
    size = ET.SubElement(root, "size")
    for tag, value in (("width", record.width), ("height", record.height), ("depth", record.depth)):
        ET.SubElement(size, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in record.objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = obj.name
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = "0"
        bnd = ET.SubElement(node, "bndbox")
        x1, y1, x2, y2 = obj.box
        for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            ET.SubElement(bnd, tag).text = str(int(round(value)))
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=False)


def _number(node: ET.Element, tag: str, where: str) -> float:
    text = node.findtext(tag)
    if text is None or not text.strip():
        raise VocError(f"{where}: missing <{tag}>")
    try:
        return float(text)
    except ValueError:
        raise VocError(f"{where}: <{tag}> is {text.strip()!r}, not a number") from None


def read_voc(path: Path) -> VocRecord:
    """Parse one VOC file; raise VocError with the file, object index and reason on anything unusable."""
    path = Path(path)
    try:
        root = ET.fromstring(path.read_bytes())
    except ET.ParseError as exc:
        raise VocError(f"{path.name}: not valid XML ({exc}); re-export it from the labeling tool") from None
    except OSError as exc:
        raise VocError(f"{path.name}: cannot be read ({exc.strerror})") from None
    if root.tag != "annotation":
        raise VocError(f"{path.name}: root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise VocError(f"{path.name}: missing <size>")
    width = int(_number(size, "width", f"{path.name} <size>"))
    height = int(_number(size, "height", f"{path.name} <size>"))
    depth = int(_number(size, "depth", f"{path.name} <size>")) if size.findtext("depth") else 3
    filename = (root.findtext("filename") or "").strip() or path.with_suffix(".jpg").name
    objects = []
    for i, node in enumerate(root.findall("object")):
        where = f"{path.name} object #{i + 1}"
        name = (node.findtext("name") or "").strip()
        if not name:
            raise VocError(f"{where}: missing <name>")
        bnd = node.find("bndbox")
        if bnd is None:
            raise VocError(f"{where} ({name}): has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(bnd, t, f"{where} ({name})") for t in ("xmin", "ymin", "xmax", "ymax"))
        objects.append(VocObject(name, (xmin - 1, ymin - 1, xmax, ymax)))
    return VocRecord(filename, width, height, depth, objects)
