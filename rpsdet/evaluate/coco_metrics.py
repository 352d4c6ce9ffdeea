"""COCO box metrics via pycocotools, plus per-class AP and PR curves read from COCOeval's own arrays."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rpsdet.classes import CLASS_NAMES
from rpsdet.model.predict import Detection

# COCOeval.eval["precision"] axes: [IoU thresholds, recall points, categories, area ranges, max detections].
IOU50, AREA_ALL, MAXDET100 = 0, 0, -1
AREA_INDEX = {"small": 1, "medium": 2, "large": 3}


def detections_to_coco(image_id: int, detections: list[Detection]) -> list[dict]:
    """A COCO results list (bbox [x, y, w, h], 1-based category id) anyone can rescore with their own tools."""
    return [
        {
            "image_id": image_id,
            "category_id": d.label + 1,
            "bbox": [
                round(d.box[0], 2),
                round(d.box[1], 2),
                round(d.box[2] - d.box[0], 2),
                round(d.box[3] - d.box[1], 2),
            ],
            "score": round(d.score, 5),
        }
        for d in detections
    ]


def run_cocoeval(ground_truth: dict, results: list[dict]) -> COCOeval | None:
    """evaluate + accumulate + summarize, quietly; None when there are no detections at all."""
    if not results:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _mean_valid(values: np.ndarray) -> float | None:
    """COCOeval marks "no ground truth here" with -1: that is undefined, not zero."""
    valid = values[values > -1]
    return round(float(valid.mean()), 4) if valid.size else None


def summarize(ev: COCOeval | None, has_ground_truth: bool = True) -> dict:
    """mAP (0.5:0.95), mAP50, mAP75, AR@100, per-class AP/AP50 and mAP50 by COCO box size."""
    if ev is None:
        zero = 0.0 if has_ground_truth else None
        return {
            "map": zero,
            "map50": zero,
            "map75": zero,
            "ar100": zero,
            "per_class": {n: {"ap": zero, "ap50": zero} for n in CLASS_NAMES},
            "by_size": {s: {"map50": zero} for s in AREA_INDEX},
        }
    precision = ev.eval["precision"]
    stat = lambda i: round(float(ev.stats[i]), 4) if ev.stats[i] > -1 else None  # noqa: E731
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        per_class[CLASS_NAMES[cat_id - 1]] = {
            "ap": _mean_valid(precision[:, :, k, AREA_ALL, MAXDET100]),
            "ap50": _mean_valid(precision[IOU50, :, k, AREA_ALL, MAXDET100]),
        }
    by_size = {s: {"map50": _mean_valid(precision[IOU50, :, :, a, MAXDET100])} for s, a in AREA_INDEX.items()}
    return {
        "map": stat(0),
        "map50": stat(1),
        "map75": stat(2),
        "ar100": stat(8),
        "per_class": per_class,
        "by_size": by_size,
    }


def coco_metrics(ground_truth: dict, results: list[dict]) -> dict:
    """Convenience: pycocotools metrics of `results` against `ground_truth` (COCO dicts)."""
    return summarize(run_cocoeval(ground_truth, results), bool(ground_truth["annotations"]))


def pr_curves(ev: COCOeval | None) -> dict[str, list[dict[str, float]]]:
    """Per-class precision at COCO's 101 recall points, IoU 0.5 (rows ready for DVC plots)."""
    curves: dict[str, list[dict[str, float]]] = {n: [] for n in CLASS_NAMES}
    if ev is None:
        return curves
    precision = ev.eval["precision"]
    for k, cat_id in enumerate(ev.params.catIds):
        values = precision[IOU50, :, k, AREA_ALL, MAXDET100]
        curves[CLASS_NAMES[cat_id - 1]] = [
            {"recall": round(float(r), 2), "precision": round(max(0.0, float(p)), 4)}
            for r, p in zip(ev.params.recThrs, values)
            if p > -1
        ]
    return curves
