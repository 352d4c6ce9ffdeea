"""`rpsdet export`: write a canonical dataset back out as a labeling tool's export (VOC, COCO or YOLO).

Why: reviewed or cleaned data goes back into CVAT / LabelImg / Roboflow / Ultralytics for relabeling or other
trainers. Each format's writer (rpsdet.data.formats.<fmt>.FORMAT) is the exact inverse of its reader, so
export -> import round-trips to the pixel: VOC 1-based inclusive integers, COCO [x, y, w, h] pixels, YOLO
fractions of the image size.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rpsdet.data.coco import ImageRecord, check_image_paths, image_path, read_coco
from rpsdet.data.formats import FORMATS
from rpsdet.progress import progress


def load_dataset(dataset: Path, root: Path | None = None) -> tuple[Path, list[ImageRecord]]:
    """A canonical folder (annotations.json inside) or a COCO file written by the pipeline (e.g. a split); its
    images must lie inside its own folder or `root` (the project: a split file points into data/validated)."""
    dataset = Path(dataset)
    coco = dataset / "annotations.json" if dataset.is_dir() else dataset
    if not coco.is_file():
        raise FileNotFoundError(
            f"{coco} not found; pass a validated dataset folder (data/validated/test) or a "
            "split file (data/splits/v1/test.json)"
        )
    try:
        records = read_coco(coco)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{coco} is not a dataset written by rpsdet ({type(exc).__name__}: {exc}); run "
            "`rpsdet validate` on it first"
        ) from None
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


def export_dataset(dataset: Path, out: Path, fmt: str, root: Path | None = None) -> dict:
    """Write `dataset` into the empty or new folder `out` in `fmt`; return image and box counts. Images outside
    the dataset's folder and `root` are refused (see `check_image_paths`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    writer = FORMATS[fmt]
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; export into a new folder")
    coco, records = load_dataset(dataset, root)
    names = output_names(records)
    with progress(f"export {fmt}", len(records)) as bar:
        for rec in records:
            dest = out / writer.image_dir / names[rec.id]
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(image_path(coco, rec), dest)
            writer.write_image(out, rec, names[rec.id])
            bar.update()
    writer.finish(out, records, names)
    out.mkdir(parents=True, exist_ok=True)
    return {"format": fmt, "images": len(records), "boxes": sum(len(r.boxes) for r in records), "out": str(out)}
