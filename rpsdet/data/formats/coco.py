"""COCO detection JSON (CVAT, Roboflow, Label Studio exports): `bbox` = [x, y, w, h] pixels, file names relative
to the JSON's folder or an `images/` folder beside it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rpsdet.data.coco import ImageRecord, to_coco_dict
from rpsdet.data.formats.base import (
    DatasetFormat,
    Problem,
    RawAnnotation,
    RawObject,
    Source,
    inside,
    list_images,
    read_text,
)


def coco_files(root: Path) -> list[Path]:
    """JSON files where COCO exports put them: the source root and an `annotations/` folder."""
    found = [*root.glob("*.json"), *(root / "annotations").glob("*.json")]
    return sorted(p for p in found if p.is_file() and inside(root, p))  # never a link out of the source


def _bbox(value: object) -> tuple[float, float, float, float] | str:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return f"bbox is {str(value)[:60]!r}, expected [x, y, width, height]"
    try:
        x, y, w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        return f"bbox {str(value)[:60]!r} holds a value that is not a number"
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bbox {value!r} is not finite"
    return (x, y, x + w, y + h)


def _object(name: str, value: object) -> RawObject:
    box = _bbox(value)
    if isinstance(box, str):
        return RawObject(name, None, box)
    if box[2] < box[0] or box[3] < box[1]:  # which corner was meant is unknowable: not reordered
        return RawObject(name, None, f"bbox {value!r} has a negative width or height", "negative_box")
    return RawObject(name, box)


def _shared_ids(entries: list) -> dict[object, list[int]]:
    """Image ids that more than one images[] entry uses -> those entries' positions."""
    positions: dict[object, list[int]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        try:
            positions.setdefault(entry.get("id"), []).append(i)
        except TypeError:  # an unhashable id is reported where the entry is read
            continue
    return {k: v for k, v in positions.items() if len(v) > 1}


def _size(entry: dict, key: str) -> int | None:
    value = entry.get(key)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def resolve_image(file_name: str, json_dir: Path, root: Path, images: set[str]) -> str | None:
    """Find the image a COCO entry names among the source's images (relative to the JSON, images/, or root)."""
    for base in (json_dir, json_dir / "images", root / "images", root):
        try:
            rel = str((base / file_name).resolve().relative_to(root.resolve()))
        except (ValueError, OSError):
            continue
        if rel in images:
            return rel
    name = Path(file_name).name
    matches = [i for i in images if Path(i).name == name]
    return matches[0] if len(matches) == 1 else None


def _list(data: dict, key: str, file: str, src: Source) -> list:
    value = data.get(key)
    if value is None or isinstance(value, list):
        return value or []
    src.problems.append(Problem(file, "", "unparseable_annotation", f"'{key}' is not a list; re-export the file"))
    return []


def _read_one(path: Path, src: Source, images: set[str]) -> None:
    file = str(path.relative_to(src.root))
    try:
        data = json.loads(read_text(path))
    except (OSError, ValueError, RecursionError) as exc:
        src.problems.append(
            Problem(file, "", "unparseable_annotation", f"{path.name} is not valid JSON ({exc}); re-export it")
        )
        return
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        src.problems.append(
            Problem(
                file,
                "",
                "unparseable_annotation",
                f"{path.name} has no 'images' list, so it is not a COCO detection file",
            )
        )
        return
    cats = {
        c["id"]: str(c.get("name", ""))
        for c in _list(data, "categories", file, src)
        if isinstance(c, dict) and isinstance(c.get("id"), (int, str))
    }
    by_id: dict[object, str] = {}
    shared = _shared_ids(data["images"])
    for i, entry in enumerate(data["images"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            src.problems.append(
                Problem(file, "", "unparseable_annotation", f"images[{i}] has no file_name; fix or remove that entry")
            )
            continue
        image = resolve_image(entry["file_name"], path.parent, src.root, images)
        if image is None:
            src.problems.append(
                Problem(
                    file,
                    "",
                    "annotation_without_image",
                    f"images[{i}] names {entry['file_name']!r}, which is not in the source",
                )
            )
            continue
        if image in src.annotations:
            src.problems.append(
                Problem(file, image, "duplicate_annotation", f"{image} is listed twice; keep one entry")
            )
            continue
        src.annotations[image] = RawAnnotation(file, _size(entry, "width"), _size(entry, "height"))
        try:
            if entry.get("id") in shared:
                others = ", ".join(f"images[{n}]" for n in shared[entry.get("id")] if n != i)
                src.problems.append(
                    Problem(
                        file,
                        image,
                        "duplicate_image_id",
                        f"images[{i}] shares id "
                        f"{entry.get('id')!r} with {others}: their annotations cannot be told "
                        "apart; give every image its own id and re-export",
                    )
                )
            else:
                by_id[entry.get("id")] = image
        except TypeError:  # an unhashable id (list, dict): its annotations cannot be attached
            src.problems.append(Problem(file, image, "unparseable_annotation", f"images[{i}] has an invalid id"))
    for i, ann in enumerate(_list(data, "annotations", file, src)):
        if not isinstance(ann, dict):
            src.problems.append(Problem(file, "", "unparseable_annotation", f"annotations[{i}] is not an object"))
            continue
        try:
            image = by_id.get(ann.get("image_id"))
            name = cats.get(ann.get("category_id"), f"category_id={ann.get('category_id')!r}")
            if ann.get("image_id") in shared:
                continue  # its image is quarantined with duplicate_image_id
        except TypeError:
            image, name = None, ""
        if image is None:
            src.problems.append(
                Problem(
                    file,
                    "",
                    "annotation_without_image",
                    f"annotations[{i}] points at image_id {ann.get('image_id')!r}, which no usable image entry has",
                )
            )
            continue
        src.annotations[image].objects.append(_object(name, ann.get("bbox")))


def read_coco_source(root: Path) -> Source:
    root = Path(root)
    src = Source(root, "coco", list_images(root))
    src.image_root = "images" if (root / "images").is_dir() and all(i.startswith("images/") for i in src.images) else ""
    images = set(src.images)
    for path in coco_files(root):
        _read_one(path, src, images)
    return src


def _no_labels_per_image(out: Path, rec: ImageRecord, name: str) -> None:
    return None  # every label goes into the one JSON that _finish writes


def _finish(out: Path, records: list[ImageRecord], names: dict[int, str]) -> None:
    """CVAT's COCO layout: annotations/instances_default.json, file_name relative to images/."""
    renamed = [ImageRecord(r.id, names[r.id], r.width, r.height, r.boxes, r.labels) for r in records]
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "annotations" / "instances_default.json").write_text(
        json.dumps(to_coco_dict(renamed), indent=1, ensure_ascii=False), encoding="utf-8"
    )


def _write_side(root: Path, parts: list[Path], side_images: set[str], side: Path) -> list[str]:
    """One JSON per imported side, at the side's root where the reader looks (Roboflow's file name)."""
    # Imported here: coco_subset reads the export with this module's coco_files / resolve_image.
    from rpsdet.data.coco_subset import write_side_json

    return write_side_json(root, parts, side_images, side / "_annotations.coco.json")


FORMAT = DatasetFormat(
    name="coco",
    detect_order=30,
    detect=lambda root, files: bool(coco_files(root)),
    read=read_coco_source,
    image_dir="images",
    write_image=_no_labels_per_image,
    finish=_finish,
    dataset_files=coco_files,
    write_side=_write_side,
)
