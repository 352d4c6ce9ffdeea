"""Read a detection source in any of the formats people deliver (VOC, COCO, YOLO), detected automatically.

FORMATS is the one table of formats: every module of this package that exports FORMAT (a `DatasetFormat`) is in
it, and the CLI's --format choices, the importer, the validator and the exporter all read it. Adding a format means
adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from rpsdet.data.formats.base import (
    IMAGE_SUFFIXES,
    DatasetFormat,
    Problem,
    RawAnnotation,
    RawObject,
    Source,
    list_files,
    list_images,
)


def _discover() -> dict[str, DatasetFormat]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        fmt = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FORMAT", None)
        if isinstance(fmt, DatasetFormat):
            found.append(fmt)
    return {fmt.name: fmt for fmt in sorted(found, key=lambda f: (f.detect_order, f.name))}


FORMATS: dict[str, DatasetFormat] = _discover()  # in detection order

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "DatasetFormat",
    "Problem",
    "RawAnnotation",
    "RawObject",
    "Source",
    "detect_format",
    "read_source",
]


def detect_format(root: Path) -> str | None:
    """The first format, in FORMATS order, whose files are there (VOC XML, then YOLO labels, then COCO JSON)."""
    root = Path(root)
    files = list_files(root)
    return next((fmt.name for fmt in FORMATS.values() if fmt.detect(root, files)), None)


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
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    return FORMATS[fmt].read(root)
