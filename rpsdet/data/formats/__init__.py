"""Read a detection source in any of the formats people deliver (VOC, COCO, YOLO), detected automatically."""
from __future__ import annotations

from pathlib import Path

from rpsdet.data.formats.base import (
    IMAGE_SUFFIXES,
    Problem,
    RawAnnotation,
    RawObject,
    Source,
    list_files,
    list_images,
    suffix_of,
)
from rpsdet.data.formats.coco_reader import coco_files, read_coco_source
from rpsdet.data.formats.voc_reader import read_voc_source
from rpsdet.data.formats.yolo_reader import NAME_FILES, read_yolo_source

READERS = {"voc": read_voc_source, "coco": read_coco_source, "yolo": read_yolo_source}

__all__ = ["IMAGE_SUFFIXES", "Problem", "RawAnnotation", "RawObject", "Source", "detect_format", "read_source"]


def detect_format(root: Path) -> str | None:
    """VOC if there is XML, YOLO if there are label .txt files or a names file, COCO if there is a COCO JSON."""
    root = Path(root)
    files = list_files(root)
    suffixes = {suffix_of(rel) for rel in files}
    if ".xml" in suffixes:
        return "voc"
    names = {rel.rsplit("/", 1)[-1] for rel in files}
    if (root / "labels").is_dir() or names & {*NAME_FILES, "data.yaml"} or ".txt" in suffixes:
        return "yolo"
    if coco_files(root):
        return "coco"
    return None


def read_source(root: Path, fmt: str | None = None) -> Source:
    """Parse a source; never raises on bad content (only on a missing folder). Unknown layout -> no annotations."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    fmt = fmt or detect_format(root)
    if fmt is None:
        src = Source(root, "unknown", list_images(root))
        src.problems.append(Problem("", "", "unknown_format", "found no VOC XML, YOLO txt or COCO JSON annotations"))
        return src
    if fmt not in READERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(READERS)}")
    return READERS[fmt](root)
