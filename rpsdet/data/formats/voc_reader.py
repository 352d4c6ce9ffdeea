"""PASCAL VOC sources (LabelImg, CVAT, ModelArts): `JPEGImages/` + `Annotations/*.xml`, or XML beside images."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

from rpsdet.data.formats.base import Problem, RawAnnotation, RawObject, Source, list_files, list_images, suffix_of

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
            src.problems.append(Problem(file, "", "annotation_without_image",
                                        f"no image named {xml.stem}.* for {xml.name}; add the image or remove it"))
            continue
        if image in src.annotations:
            src.problems.append(Problem(file, image, "duplicate_annotation",
                                        f"{image} already has {src.annotations[image].file}; keep one of them"))
            continue
        parsed = parse_voc_xml(data, file)
        if isinstance(parsed, str):
            src.problems.append(Problem(file, image, "unparseable_annotation", f"{xml.name}: {parsed}"))
        else:
            src.annotations[image] = parsed
    return src
