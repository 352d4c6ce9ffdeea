"""COCO box metrics via pycocotools, plus per-class AP read from COCOeval's own precision array."""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rpsdet.classes import CLASS_NAMES
from rpsdet.model.predict import Detection


def detections_to_coco(image_id: int, detections: list[Detection]) -> list[dict]:
    """A COCO results list (bbox [x, y, w, h], 1-based category id) anyone can rescore with their own tools."""
    return [{
        "image_id": image_id,
        "category_id": d.label + 1,
        "bbox": [round(d.box[0], 2), round(d.box[1], 2), round(d.box[2] - d.box[0], 2), round(d.box[3] - d.box[1], 2)],
        "score": round(d.score, 5),
    } for d in detections]


def _mean_valid(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return round(float(valid.mean()), 4) if valid.size else None


def coco_metrics(ground_truth: dict, results: list[dict]) -> dict:
    """mAP (0.5:0.95), mAP50, mAP75, AR@100 and per-class AP/AP50. No detections at all scores 0."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        if not results:
            empty = {"ap": 0.0, "ap50": 0.0}
            return {"map": 0.0, "map50": 0.0, "map75": 0.0, "ar100": 0.0,
                    "per_class": {name: dict(empty) for name in CLASS_NAMES}}
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = ev.stats
    # precision: [iou thresholds, recall points, categories, area ranges, max dets]; area "all", 100 dets.
    precision = ev.eval["precision"]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        name = CLASS_NAMES[cat_id - 1]
        per_class[name] = {"ap": _mean_valid(precision[:, :, k, 0, -1]), "ap50": _mean_valid(precision[0, :, k, 0, -1])}
    clean = lambda v: round(max(0.0, float(v)), 4)  # noqa: E731 - COCOeval uses -1 for "no ground truth"
    return {"map": clean(stats[0]), "map50": clean(stats[1]), "map75": clean(stats[2]), "ar100": clean(stats[8]),
            "per_class": per_class}
