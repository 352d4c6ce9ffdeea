"""Make a new training-set version: the previous train split plus augmented copies of the selected images.

The previous images are referenced, never changed; each new image records its parent and operation.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rpsdet.data.coco import ImageRecord, image_id_for, image_path, read_coco, write_coco
from rpsdet.data.split import rebase
from rpsdet.failure_loop.ops import OPERATIONS, build_operation
from rpsdet.files import write_json
from rpsdet.progress import progress

MANIFEST_FIELDS = (
    "file_name",
    "image_id",
    "parent_id",
    "parent_file",
    "operation",
    "copy",
    "boxes_in",
    "boxes_out",
    "dropped_boxes",
    "status",
    "applied",
)


def integrity_problem(path: Path, boxes: list, width: int, height: int) -> str | None:
    """The import checks that matter for generated images: it decodes, its size is right, its boxes are sane."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.size != (width, height):
                return f"size {im.size} != recorded {(width, height)}"
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a finding
        return f"does not decode: {exc}"
    if not boxes:
        return "no box left after the transform"
    for x1, y1, x2, y2 in boxes:
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            return f"box {(x1, y1, x2, y2)} outside the image or empty"
    return None


def augment_selection(
    train_json: Path,
    selected_ids: set[int],
    out_dir: Path,
    ops: dict[str, dict[str, Any]],
    seed: int,
    quality: int = 92,
) -> dict[str, Any]:
    """Write out_dir/images/, out_dir/train.json (previous + new) and out_dir/manifest.csv; return counts."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    previous = read_coco(train_json)
    selected = [r for r in previous if r.id in selected_ids]
    new_records: list[ImageRecord] = []
    manifest: list[dict[str, Any]] = []
    counts = {"selected": len(selected), "generated": 0, "rejected": 0, "dropped_boxes": 0, "per_operation": {}}
    copies = sum(max(0, (ops.get(name) or {}).get("copies", 0)) for name in OPERATIONS)
    with progress("augment", len(selected) * copies) as bar:
        for op_index, name in enumerate(OPERATIONS):
            params = ops.get(name)
            if not params or params.get("copies", 0) <= 0:
                continue
            made = 0
            for rec in selected:
                with Image.open(image_path(train_json, rec)) as im:
                    image = np.asarray(im.convert("RGB"))
                transform = build_operation(
                    name, params, image.shape[:2], seed=seed * 7919 + op_index * 104729 + rec.id % 100003
                )
                for copy in range(params["copies"]):
                    out = transform(
                        image=image,
                        bboxes=np.asarray(rec.boxes, dtype=np.float32).reshape(-1, 4),
                        labels=np.asarray(rec.labels, dtype=np.int64),
                    )
                    boxes = [tuple(round(float(v), 2) for v in b) for b in out["bboxes"]]
                    labels = [int(v) for v in out["labels"]]  # albumentations hands labels back as floats
                    stem = f"{Path(rec.file_name).stem}__{name}{copy}"
                    path = out_dir / "images" / f"{stem}.jpg"
                    Image.fromarray(out["image"]).save(path, quality=quality)
                    height, width = out["image"].shape[:2]
                    problem = integrity_problem(path, boxes, width, height)
                    dropped = len(rec.boxes) - len(boxes)
                    counts["dropped_boxes"] += dropped
                    row = {
                        "file_name": f"images/{stem}.jpg",
                        "image_id": image_id_for(f"augmented/{stem}"),
                        "parent_id": rec.id,
                        "parent_file": rec.file_name,
                        "operation": name,
                        "copy": copy,
                        "boxes_in": len(rec.boxes),
                        "boxes_out": len(boxes),
                        "dropped_boxes": dropped,
                        "status": "kept" if problem is None else f"rejected: {problem}",
                        "applied": json.dumps(_jsonable(out.get("applied_transforms", []))),
                    }
                    manifest.append(row)
                    if problem is None:
                        new_records.append(ImageRecord(row["image_id"], row["file_name"], width, height, boxes, labels))
                        made += 1
                    else:
                        path.unlink()
                        counts["rejected"] += 1
                bar.update(params["copies"])
            counts["per_operation"][name] = made
            counts["generated"] += made
    write_coco(out_dir / "train.json", rebase(previous, Path(train_json).parent, out_dir) + new_records)
    with open(out_dir / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(manifest)
    counts["train_images"] = len(previous) + len(new_records)
    return counts


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def augment_mined(*, selection_json: Path, out_dir: Path, cfg: dict[str, Any], metrics_json: Path) -> dict:
    """The failure loop's augment step: every operation of `cfg` (params `augment:`) on the images mining
    selected, into a fresh `out_dir`; the counts go to `metrics_json`."""
    selection = json.loads(Path(selection_json).read_text())
    shutil.rmtree(out_dir, ignore_errors=True)
    counts = augment_selection(
        Path(selection["train_json"]),
        set(selection["train_image_ids"]),
        Path(out_dir),
        {name: cfg[name] for name in OPERATIONS},
        cfg["seed"],
    )
    counts["slice"] = selection["rule"]
    write_json(metrics_json, counts)
    return counts
