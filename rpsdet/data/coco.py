"""The canonical dataset: a COCO annotations file whose `file_name`s resolve relative to the file itself.

Everywhere outside `rpsdet.model`, boxes are xyxy pixels (x2/y2 exclusive) and labels are 0-based class ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from rpsdet.classes import CLASS_NAMES

Box = tuple[float, float, float, float]
FLAGS_KEY = "rpsdet_flags"


@dataclass
class ImageRecord:
    """One image and its boxes. `file_name` is relative to the annotations file's folder."""

    id: int
    file_name: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    # What validation learned about the image and the later stages must know, e.g.
    # {"leakage": {"reference": "images/x.jpg", "distance": 3, "kind": "near"}}. Written to the COCO image entry
    # as "rpsdet_flags" (other COCO tools ignore unknown keys) and carried through splits and subsets.
    flags: dict = field(default_factory=dict)


def image_id_for(key: str) -> int:
    """Stable COCO image id from a source path or content hash (not enumeration order); fits in 48 bits."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16)


def categories() -> list[dict]:
    return [{"id": i + 1, "name": name, "supercategory": "hand"} for i, name in enumerate(CLASS_NAMES)]


def to_coco_dict(records: list[ImageRecord]) -> dict:
    """COCO ground truth dict (category ids are 1-based, bbox is [x, y, w, h])."""
    images, annotations = [], []
    for rec in sorted(records, key=lambda r: r.id):
        image = {"id": rec.id, "file_name": rec.file_name, "width": rec.width, "height": rec.height}
        if rec.flags:
            image[FLAGS_KEY] = rec.flags
        images.append(image)
        for (x1, y1, x2, y2), label in zip(rec.boxes, rec.labels):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": rec.id,
                    "category_id": int(label) + 1,
                    "bbox": [float(x1), float(y1), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": 0,
                }
            )
    return {"images": images, "annotations": annotations, "categories": categories()}


def write_coco(path: Path, records: list[ImageRecord]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_coco_dict(records), indent=1, ensure_ascii=False))


def read_coco(path: Path) -> list[ImageRecord]:
    """Read a canonical COCO file written by `write_coco` (trusted input; see rpsdet.validate for user data)."""
    data = json.loads(Path(path).read_text())
    records = {
        img["id"]: ImageRecord(
            img["id"], img["file_name"], img["width"], img["height"], flags=dict(img.get(FLAGS_KEY) or {})
        )
        for img in data["images"]
    }
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        rec = records[ann["image_id"]]
        rec.boxes.append((x, y, x + w, y + h))
        rec.labels.append(ann["category_id"] - 1)
    return list(records.values())


def image_path(coco_path: Path, record: ImageRecord) -> Path:
    """Absolute path of a record's image: file names resolve relative to the annotations file."""
    return (Path(coco_path).parent / record.file_name).resolve()


def check_image_paths(coco_path: Path, records: list[ImageRecord], roots: list[Path]) -> None:
    """ValueError unless every `file_name` is a relative path to an image file that, with links followed, lies
    inside one of `roots`. A COCO file is a list of paths to open: one from elsewhere could name
    `../../.ssh/id_rsa` or `/etc/passwd`, which `export` would copy and `evaluate` would read."""
    from rpsdet.data.formats.base import IMAGE_SUFFIXES

    real_roots = list(dict.fromkeys(os.path.realpath(r) for r in roots))
    bad = []
    for rec in records:
        name = str(rec.file_name)
        real = os.path.realpath(Path(coco_path).parent / name)
        if os.path.isabs(name):
            bad.append(f"image {rec.id}: {name!r} is an absolute path")
        elif not any(os.path.commonpath([root, real]) == root for root in real_roots):
            bad.append(f"image {rec.id}: {name!r} leads outside {' and '.join(real_roots)}")
        elif os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
            bad.append(f"image {rec.id}: {name!r} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
    if bad:
        raise ValueError(
            f"{coco_path}: {len(bad)} file_name(s) refused, e.g. {'; '.join(bad[:3])}. Images must "
            "lie inside the dataset's folder or the project (--root); nothing was read or copied"
        )
