"""Validate a PASCAL VOC source into the canonical dataset, quarantining whatever cannot be used.

Walking-skeleton checks: the image must fully decode, its annotation must parse, every class must map onto the
label map and at least one box must remain. Each input file is accounted for in `report.csv`.
"""
from __future__ import annotations

import csv
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from rpsdet.classes import resolve_class
from rpsdet.data.coco import ImageRecord, image_id_for, write_coco
from rpsdet.data.voc import VocError, read_voc

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
REPORT_FIELDS = ("file", "check", "detail", "action")


@dataclass
class Finding:
    file: str  # path relative to the source root
    check: str
    detail: str
    action: str  # "kept", "quarantined"


def _decode(path: Path) -> tuple[int, int] | str:
    """Full decode (not just the header); returns (width, height) or a reason."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except Exception as exc:  # PIL raises many types for broken files; each one is a finding, not a crash
        return f"{type(exc).__name__}: {exc}"


def validate_voc_source(src: Path, out: Path, aliases: dict[str, str] | None = None) -> dict:
    """Write out/images, out/annotations.json, out/report.csv and out/quarantine/; return counts for metrics."""
    src, out = Path(src), Path(out)
    if not (src / "JPEGImages").is_dir():
        raise FileNotFoundError(f"{src} is not a VOC source: expected {src}/JPEGImages and {src}/Annotations")
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    findings: list[Finding] = []
    records: list[ImageRecord] = []
    images = sorted(p for p in (src / "JPEGImages").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    annotations = {p.stem: p for p in sorted((src / "Annotations").glob("*.xml"))}

    def quarantine(path: Path, check: str, detail: str) -> None:
        rel = path.relative_to(src)
        dest = out / "quarantine" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        findings.append(Finding(str(rel), check, detail, "quarantined"))

    for image in images:
        ann = annotations.pop(image.stem, None)
        size = _decode(image)
        if isinstance(size, str):
            quarantine(image, "undecodable_image", size)
            if ann:
                quarantine(ann, "image_quarantined", f"its image {image.name} was quarantined")
            continue
        if ann is None:
            quarantine(image, "missing_annotation", f"no Annotations/{image.stem}.xml; label it or remove it")
            continue
        try:
            voc = read_voc(ann)
        except VocError as exc:
            quarantine(image, "unparseable_annotation", str(exc))
            quarantine(ann, "unparseable_annotation", str(exc))
            continue
        unknown = sorted({o.name for o in voc.objects if resolve_class(o.name, aliases) is None})
        if unknown:
            detail = f"unknown class name(s) {unknown}; add them to classes.aliases in params.yaml"
            quarantine(image, "unknown_class", detail)
            quarantine(ann, "unknown_class", detail)
            continue
        if not voc.objects:
            quarantine(image, "empty_annotation", f"{ann.name} has no objects")
            quarantine(ann, "empty_annotation", f"{ann.name} has no objects")
            continue
        width, height = size
        boxes = [(max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
                 for x1, y1, x2, y2 in (o.box for o in voc.objects)]
        labels = [resolve_class(o.name, aliases) for o in voc.objects]
        shutil.copy2(image, out / "images" / image.name)
        records.append(ImageRecord(image_id_for(f"{src.name}/{image.name}"), f"images/{image.name}", width,
                                   height, boxes, labels))
        findings.append(Finding(str(image.relative_to(src)), "ok", f"{len(boxes)} box(es)", "kept"))
    for ann in annotations.values():
        quarantine(ann, "annotation_without_image", f"no JPEGImages/{ann.stem}.* for {ann.name}")

    write_coco(out / "annotations.json", records)
    with open(out / "report.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=REPORT_FIELDS)
        writer.writeheader()
        writer.writerows(f.__dict__ for f in findings)
    image_findings = [f for f in findings if Path(f.file).parts[0] == "JPEGImages"]
    return {
        "input_images": len(images),
        "kept_images": len(records),
        "quarantined_images": sum(f.action == "quarantined" for f in image_findings),
        "boxes": sum(len(r.boxes) for r in records),
        "checks": dict(Counter(f.check for f in findings if f.check != "ok")),
    }
