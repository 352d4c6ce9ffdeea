"""`rpsdet export`: write a canonical dataset back out as a labeling tool's export (VOC, COCO or YOLO).

Why: reviewed or cleaned data goes back into CVAT / LabelImg / Roboflow / Ultralytics for relabeling or other
trainers. Each writer is the exact inverse of its reader in rpsdet.data.formats, so export -> import round-trips
to the pixel: VOC 1-based inclusive integers, COCO [x, y, w, h] pixels, YOLO fractions of the image size.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord, check_image_paths, image_path, read_coco, to_coco_dict
from rpsdet.data.voc import VocObject, VocRecord, write_voc
from rpsdet.progress import progress

FORMATS = ("voc", "coco", "yolo")


def load_dataset(dataset: Path, root: Path | None = None) -> tuple[Path, list[ImageRecord]]:
    """A canonical folder (annotations.json inside) or a COCO file written by the pipeline (e.g. a split); its
    images must lie inside its own folder or `root` (the project: a split file points into data/validated)."""
    dataset = Path(dataset)
    coco = dataset / "annotations.json" if dataset.is_dir() else dataset
    if not coco.is_file():
        raise FileNotFoundError(f"{coco} not found; pass a validated dataset folder (data/validated/test) or a "
                                "split file (data/splits/v1/test.json)")
    try:
        records = read_coco(coco)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{coco} is not a dataset written by rpsdet ({type(exc).__name__}: {exc}); run "
                         "`rpsdet validate` on it first") from None
    check_image_paths(coco, records, [coco.parent, *([Path(root)] if root is not None else [])])
    for rec in records:
        if not image_path(coco, rec).is_file():
            raise FileNotFoundError(f"{coco}: image {rec.file_name} is missing; rebuild the dataset (dvc repro)")
    return coco, records


def output_names(records: list[ImageRecord]) -> dict[int, str]:
    """Flat, unique file names: VOC and YOLO pair image and label by stem, so stems must not repeat."""
    names, stems = {}, set()
    for rec in sorted(records, key=lambda r: (Path(r.file_name).name, r.id)):
        path = Path(rec.file_name)
        stem = path.stem if path.stem not in stems else f"{path.stem}_{rec.id:012x}"
        stems.add(stem)
        names[rec.id] = stem + path.suffix
    return names


def _write_voc(out: Path, rec: ImageRecord, name: str) -> None:
    objects = [VocObject(CLASS_NAMES[label], box) for box, label in zip(rec.boxes, rec.labels)]
    write_voc(out / "Annotations" / f"{Path(name).stem}.xml", VocRecord(name, rec.width, rec.height, 3, objects))


def _write_yolo(out: Path, rec: ImageRecord, name: str) -> None:
    lines = [f"{label} {(x1 + x2) / 2 / rec.width:.6f} {(y1 + y2) / 2 / rec.height:.6f} "
             f"{(x2 - x1) / rec.width:.6f} {(y2 - y1) / rec.height:.6f}"
             for (x1, y1, x2, y2), label in zip(rec.boxes, rec.labels)]
    path = out / "labels" / f"{Path(name).stem}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")  # empty file = a negative image


IMAGE_DIRS = {"voc": "JPEGImages", "coco": "images", "yolo": "images"}


def export_dataset(dataset: Path, out: Path, fmt: str, root: Path | None = None) -> dict:
    """Write `dataset` into the empty or new folder `out` in `fmt`; return image and box counts. Images outside
    the dataset's folder and `root` are refused (see `check_image_paths`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; export into a new folder")
    coco, records = load_dataset(dataset, root)
    names = output_names(records)
    with progress(f"export {fmt}", len(records)) as bar:
        for rec in records:
            dest = out / IMAGE_DIRS[fmt] / names[rec.id]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(image_path(coco, rec), dest)
            if fmt == "voc":
                _write_voc(out, rec, names[rec.id])
            elif fmt == "yolo":
                _write_yolo(out, rec, names[rec.id])
            bar.update()
    if fmt == "coco":  # CVAT's COCO layout: file_name relative to images/
        renamed = [ImageRecord(r.id, names[r.id], r.width, r.height, r.boxes, r.labels) for r in records]
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        (out / "annotations" / "instances_default.json").write_text(
            json.dumps(to_coco_dict(renamed), indent=1, ensure_ascii=False), encoding="utf-8")
    if fmt == "yolo":  # Ultralytics reads train/val relative to this file; names in class-id order
        (out / "data.yaml").write_text(f"train: images\nval: images\nnc: {len(CLASS_NAMES)}\n"
                                       f"names: [{', '.join(CLASS_NAMES)}]\n", encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    return {"format": fmt, "images": len(records), "boxes": sum(len(r.boxes) for r in records), "out": str(out)}
