"""PASCAL VOC (LabelImg, CVAT, ModelArts): `JPEGImages/` + `Annotations/*.xml`, or XML beside images; boxes are
1-based inclusive integer pixels. Reads sources, writes exports, and writes / strictly reads the files rpsdet draws
itself (synth, defects)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord
from rpsdet.data.formats.base import (
    DatasetFormat,
    Problem,
    RawAnnotation,
    RawObject,
    Source,
    list_files,
    list_images,
    suffix_of,
)

FIX_XML = "re-export it from the labeling tool"


def _int_or_none(text: str | None) -> int | None:
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value > 0 else None


def _object(node: ET.Element) -> RawObject:
    name = (node.findtext("name") or "").strip()
    bnd = node.find("bndbox")
    if bnd is None:
        return RawObject(name, None, "has no <bndbox>")
    values = []
    for tag in ("xmin", "ymin", "xmax", "ymax"):
        text = (bnd.findtext(tag) or "").strip()
        try:
            value = float(text)
        except ValueError:
            return RawObject(name, None, f"<{tag}> is {text!r}, not a number")
        if not math.isfinite(value):
            return RawObject(name, None, f"<{tag}> is {text!r}, not a finite number")
        values.append(value)
    xmin, ymin, xmax, ymax = values
    return RawObject(name, (xmin - 1, ymin - 1, xmax, ymax))  # VOC: 1-based inclusive -> 0-based, exclusive


def parse_voc_xml(data: bytes, file: str) -> RawAnnotation | str:
    """One XML file -> its annotation, or the plain-language reason it cannot be used."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return f"not valid XML ({exc}); {FIX_XML}"
    if root.tag != "annotation":
        return f"root element is <{root.tag}>, expected <annotation>; {FIX_XML}"
    size = root.find("size")
    width = _int_or_none(size.findtext("width")) if size is not None else None
    height = _int_or_none(size.findtext("height")) if size is not None else None
    return RawAnnotation(file, width, height, [_object(n) for n in root.findall("object")])


def _match_image(xml: Path, data: bytes, by_stem: dict[str, list[str]], by_name: dict[str, list[str]]) -> str | None:
    """VOC pairs files by stem; fall back to the <filename> the XML names."""
    if xml.stem in by_stem and len(by_stem[xml.stem]) == 1:
        return by_stem[xml.stem][0]
    try:
        filename = (ET.fromstring(data).findtext("filename") or "").strip()
    except ET.ParseError:
        return None
    matches = by_name.get(Path(filename).name, [])
    return matches[0] if len(matches) == 1 else None


def read_voc_source(root: Path) -> Source:
    root = Path(root)
    image_dir = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    ann_dir = root / "Annotations" if (root / "Annotations").is_dir() else root
    src = Source(root, "voc", list_images(root), str(image_dir.relative_to(root)))
    by_stem: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    for rel in src.images:
        by_stem.setdefault(Path(rel).stem, []).append(rel)
        by_name.setdefault(Path(rel).name, []).append(rel)
    for xml in (ann_dir / rel for rel in list_files(ann_dir) if suffix_of(rel) == ".xml"):
        file = str(xml.relative_to(root))
        try:
            data = xml.read_bytes()
        except OSError as exc:
            src.problems.append(Problem(file, "", "unparseable_annotation", f"cannot be read ({exc.strerror})"))
            continue
        image = _match_image(xml, data, by_stem, by_name)
        if image is None:
            src.problems.append(
                Problem(
                    file,
                    "",
                    "annotation_without_image",
                    f"no image named {xml.stem}.* for {xml.name}; add the image or remove it",
                )
            )
            continue
        if image in src.annotations:
            src.problems.append(
                Problem(
                    file,
                    image,
                    "duplicate_annotation",
                    f"{image} already has {src.annotations[image].file}; keep one of them",
                )
            )
            continue
        parsed = parse_voc_xml(data, file)
        if isinstance(parsed, str):
            src.problems.append(Problem(file, image, "unparseable_annotation", f"{xml.name}: {parsed}"))
        else:
            src.annotations[image] = parsed
    return src


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


def _write_image(out: Path, rec: ImageRecord, name: str) -> None:
    objects = [VocObject(CLASS_NAMES[label], box) for box, label in zip(rec.boxes, rec.labels)]
    write_voc(out / "Annotations" / f"{Path(name).stem}.xml", VocRecord(name, rec.width, rec.height, 3, objects))


FORMAT = DatasetFormat(
    name="voc",
    detect_order=10,
    detect=lambda root, files: any(suffix_of(rel) == ".xml" for rel in files),
    read=read_voc_source,
    image_dir="JPEGImages",
    write_image=_write_image,
)
