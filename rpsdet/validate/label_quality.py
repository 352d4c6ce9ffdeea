"""Label quality with cleanlab (object detection): out-of-sample predictions -> a score per image, the one box
most likely wrong (swapped class, badly located, or overlooked), a ranked review queue and a reviewed dataset.

The only validation module that touches torch (through the detector); import it only where a model is used.
"""
from __future__ import annotations

import csv
import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from cleanlab.object_detection import filter as cl_filter
from cleanlab.object_detection import rank as cl_rank
from PIL import Image, ImageDraw

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord, image_path, to_coco_dict
from rpsdet.data.split import rebase

ACTIONS = ("drop", "keep", "mark")


@dataclass
class Review:
    image_id: int
    file_name: str
    score: float  # cleanlab label quality, 0 (surely wrong) .. 1 (clean)
    issue: bool  # cleanlab's find_label_issues verdict
    kind: str  # of the worst box: swapped | badly_located | overlooked | ''
    box: list[float]  # that box, xyxy pixels ([] when none)
    label: str  # its class as labelled (or as predicted, for an overlooked box)
    box_score: float


def cleanlab_inputs(records: list[ImageRecord], detections: list[list]) -> tuple[list[dict], list[list[np.ndarray]]]:
    """Our records and Detector outputs -> cleanlab's labels and per-class (M, 5) prediction arrays."""
    labels, predictions = [], []
    for rec, dets in zip(records, detections):
        labels.append({"bboxes": np.array(rec.boxes, dtype=np.float32).reshape(-1, 4),
                       "labels": np.array(rec.labels, dtype=np.int64), "image_name": rec.file_name})
        per_class = []
        for c in range(len(CLASS_NAMES)):
            rows = [[*d.box, d.score] for d in dets if d.label == c]
            per_class.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
        predictions.append(per_class)
    return labels, predictions


def _worst_box(i: int, labels: list[dict], predictions: list, per_box: dict) -> tuple[str, list[float], str, float]:
    """The single most suspicious box of image i over cleanlab's three per-box scores."""
    best = ("", [], "", 1.0)
    for kind, scores in per_box.items():
        s = np.asarray(scores[i], dtype=np.float64)
        if s.size == 0 or np.all(np.isnan(s)):
            continue
        j = int(np.nanargmin(s))
        if s[j] < best[3]:
            if kind == "overlooked":
                flat = np.concatenate([np.c_[p, np.full(len(p), c)] for c, p in enumerate(predictions[i])])
                box, label = flat[j, :4].tolist(), CLASS_NAMES[int(flat[j, 5])]
            else:
                box, label = labels[i]["bboxes"][j].tolist(), CLASS_NAMES[int(labels[i]["labels"][j])]
            best = (kind, box, label, float(s[j]))
    return best


def review(records: list[ImageRecord], detections: list[list]) -> list[Review]:
    """Score every image with cleanlab and rank them, most suspicious first."""
    labels, predictions = cleanlab_inputs(records, detections)
    issues = cl_filter.find_label_issues(labels, predictions)
    scores = cl_rank.get_label_quality_scores(labels, predictions, verbose=False)
    per_box = {
        "swapped": cl_rank.compute_swap_box_scores(labels=labels, predictions=predictions),
        "badly_located": cl_rank.compute_badloc_box_scores(labels=labels, predictions=predictions),
        "overlooked": cl_rank.compute_overlooked_box_scores(labels=labels, predictions=predictions),
    }
    out = []
    for i, rec in enumerate(records):
        kind, box, label, box_score = _worst_box(i, labels, predictions, per_box)
        out.append(Review(rec.id, rec.file_name, float(scores[i]), bool(issues[i]), kind,
                          [round(v, 1) for v in box], label, round(box_score, 4)))
    return sorted(out, key=lambda r: (not r.issue, r.score))


def write_queue(out: Path, reviews: list[Review], coco_path: Path, records: list[ImageRecord], top: int) -> None:
    """review.csv (every image, ranked) and review.html (the top ones, suspicious box drawn in red)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "review.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["rank", *Review.__dataclass_fields__])
        writer.writeheader()
        writer.writerows({"rank": n, **asdict(r)} for n, r in enumerate(reviews, 1))
    by_id = {r.id: r for r in records}
    (out / "thumbs").mkdir(exist_ok=True)
    rows = []
    for n, r in enumerate(reviews[:top], 1):
        rec = by_id[r.image_id]
        with Image.open(image_path(coco_path, rec)) as im:
            im = im.convert("RGB")
        draw = ImageDraw.Draw(im)
        for box, label in zip(rec.boxes, rec.labels):
            draw.rectangle(box, outline=(40, 220, 40), width=1)
            draw.text((box[0] + 2, box[1] + 1), CLASS_NAMES[label], fill=(40, 220, 40))
        if r.box:
            draw.rectangle(r.box, outline=(255, 0, 0), width=3)
            draw.text((r.box[0] + 2, max(0, r.box[1] - 11)), f"{r.kind}: {r.label}", fill=(255, 0, 0))
        im.thumbnail((320, 320))
        im.save(out / "thumbs" / f"{r.image_id}.jpg", quality=85)
        rows.append(f"<tr><td>{n}</td><td><img src='thumbs/{r.image_id}.jpg'></td><td>{html.escape(r.file_name)}"
                    f"</td><td>{r.score:.3f}</td><td>{'yes' if r.issue else ''}</td><td>{r.kind}</td>"
                    f"<td>{html.escape(r.label)}</td></tr>")
    (out / "review.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>Label review queue</title><style>body{font:14px sans-serif}"
        "td{padding:4px;border-bottom:1px solid #ddd;vertical-align:top}</style><h1>Label review queue</h1>"
        "<p>Most suspicious first. Green: the labels; red: the box cleanlab suspects.</p><table><tr><th>#</th>"
        "<th>image</th><th>file</th><th>quality</th><th>issue</th><th>kind</th><th>class</th></tr>"
        + "".join(rows) + "</table>\n", encoding="utf-8")


def write_reviewed(path: Path, coco_path: Path, records: list[ImageRecord], reviews: list[Review],
                   action: str) -> int:
    """The dataset after review: flagged images dropped, kept, or kept and marked. Returns images written."""
    if action not in ACTIONS:
        raise ValueError(f"label_quality.action must be one of {ACTIONS}, got {action!r}")
    flagged = {r.image_id: r for r in reviews if r.issue}
    kept = [r for r in records if not (action == "drop" and r.id in flagged)]
    data = to_coco_dict(rebase(kept, Path(coco_path).parent, Path(path).parent))
    if action == "mark":
        scores = {r.image_id: r.score for r in reviews}
        for img in data["images"]:
            img["label_issue"] = img["id"] in flagged
            img["label_quality"] = round(scores[img["id"]], 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    return len(kept)


def precision_recall(reviews: list[Review], noisy_ids: set[int]) -> dict:
    """cleanlab's verdict against the injected label noise (ground truth from the defects manifest)."""
    flagged = {r.image_id for r in reviews if r.issue}
    present = noisy_ids & {r.image_id for r in reviews}
    hit = len(flagged & present)
    return {"flagged": len(flagged), "noisy": len(present), "true_positives": hit,
            "precision": round(hit / len(flagged), 4) if flagged else 0.0,
            "recall": round(hit / len(present), 4) if present else 0.0}


def predict(detector, coco_path: Path, records: list[ImageRecord], threshold: float, batch: int = 8) -> list[list]:
    """Detector outputs for each record's image (original pixels, 0-based labels)."""
    out = []
    for i in range(0, len(records), batch):
        arrays = []
        for rec in records[i:i + batch]:
            with Image.open(image_path(coco_path, rec)) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        out += detector.predict(arrays, threshold)
    return out


def kfold_detections(coco_path: Path, records: list[ImageRecord], folds: int, train_cfg, workdir: Path,
                     threshold: float) -> list[list]:
    """Out-of-sample predictions for a training set: K models, each predicting the fold it did not train on."""
    from rpsdet.data.coco import write_coco
    from rpsdet.model.predict import Detector
    from rpsdet.train.loop import train

    detections: dict[int, list] = {}
    for k in range(folds):  # ids are hashes of the source path: id % folds is a stable, well-mixed fold
        held = [r for r in records if r.id % folds == k]
        rest = [r for r in records if r.id % folds != k]
        fold_dir = Path(workdir) / f"fold{k}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        write_coco(fold_dir / "train.json", rebase(rest, Path(coco_path).parent, fold_dir))
        write_coco(fold_dir / "val.json", rebase(held, Path(coco_path).parent, fold_dir))
        train(train_cfg, fold_dir / "train.json", fold_dir / "val.json", fold_dir / "model.pt")
        detector = Detector.from_checkpoint(fold_dir / "model.pt")
        detections.update(zip((r.id for r in held), predict(detector, coco_path, held, threshold)))
    return [detections[r.id] for r in records]
