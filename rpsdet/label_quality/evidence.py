"""What cleanlab is given: out-of-sample predictions in its own format, several models' averaged into one, and
class scores calibrated (a temperature and a shift on their logits).

An image's predictions are cleanlab's format throughout: a list with one (M, 5) array per class of rows
[x1, y1, x2, y2, score] (xyxy pixels of the image, 0-based classes by position). No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord
from rpsdet.evaluate.matching import iou_matrix

Prediction = list[np.ndarray]  # one image: per class, (M, 5) rows of [x1, y1, x2, y2, score]
EPS = 1e-6


def to_class_arrays(detections: Sequence) -> Prediction:
    """Detector outputs of one image (objects with .box, .score, .label) -> per-class (M, 5) arrays."""
    return [
        np.array([[*d.box, d.score] for d in detections if d.label == c], dtype=np.float64).reshape(-1, 5)
        for c in range(len(CLASS_NAMES))
    ]


def fuse(per_model: Sequence[Prediction], iou: float = 0.55) -> Prediction:
    """Weighted box fusion of one image's predictions from several models, class by class.

    Boxes are clustered greedily, best score first, onto a cluster whose fused box they overlap by `iou`. A
    cluster's box is the score-weighted mean of its members; its score is the sum over models of each model's best
    score in it, divided by the number of models: a box only one of two models sees keeps half its score.
    """
    if len(per_model) == 1:
        return [a.copy() for a in per_model[0]]
    fused = []
    for c in range(len(CLASS_NAMES)):
        rows = [np.c_[p[c], np.full(len(p[c]), m)] for m, p in enumerate(per_model)]
        rows = np.concatenate(rows) if rows else np.zeros((0, 6))
        rows = rows[np.argsort(-rows[:, 4], kind="stable")]
        members: list[list[np.ndarray]] = []
        boxes = np.zeros((0, 4))
        for row in rows:
            overlap = iou_matrix(row[None, :4], boxes)[0] if len(boxes) else np.zeros(0)
            k = int(np.argmax(overlap)) if overlap.size and overlap.max() >= iou else -1
            if k < 0:
                members.append([row])
                boxes = np.vstack([boxes, row[:4]])
            else:
                members[k].append(row)
                m = np.array(members[k])
                boxes[k] = (m[:, :4] * m[:, 4:5]).sum(0) / max(m[:, 4].sum(), EPS)
        scores = [
            sum(max(r[4] for r in ms if r[5] == m) for m in {r[5] for r in ms}) / len(per_model) for ms in members
        ]
        fused.append(np.c_[boxes, scores].reshape(-1, 5))
    return fused


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    """score -> sigmoid(logit(score) / temperature + shift). Identity: temperature 1, shift 0."""

    temperature: float = 1.0
    shift: float = 0.0

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(_logit(scores) / self.temperature + self.shift)))


def calibrate(predictions: list[Prediction], calibration: Calibration) -> list[Prediction]:
    """Every class score through the calibration; boxes unchanged."""
    return [[np.c_[a[:, :4], calibration(a[:, 4])] for a in pred] for pred in predictions]


def correctness(
    records: list[ImageRecord], predictions: list[Prediction], iou: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, is_correct) of every predicted box: correct = it matches a not yet matched labelled box of its
    class at IoU >= iou, best score first (COCO's matching)."""
    scores, correct = [], []
    for rec, pred in zip(records, predictions):
        labels = np.asarray(rec.labels, dtype=int)
        boxes = np.asarray(rec.boxes, dtype=np.float64).reshape(-1, 4)
        for c, a in enumerate(pred):
            gt = boxes[labels == c]
            ious = iou_matrix(a[:, :4], gt)
            taken = np.zeros(len(gt), bool)
            for j in np.argsort(-a[:, 4], kind="stable"):
                cand = np.where(taken, -1.0, ious[j]) if len(gt) else np.zeros(0)
                hit = cand.size > 0 and cand.max() >= iou
                if hit:
                    taken[int(cand.argmax())] = True
                scores.append(a[j, 4])
                correct.append(hit)
    return np.array(scores, dtype=np.float64), np.array(correct, dtype=bool)


def fit_calibration(records: list[ImageRecord], predictions: list[Prediction]) -> Calibration:
    """Platt scaling: the temperature and shift on the class logits that best predict whether a predicted box is
    correct (logistic regression). A temperature alone scales logits around 0.5, so it cannot lift a timid
    model's correct boxes at 0.3 above its wrong ones' level; the shift can.

    Fitted on the very labels being checked: two numbers, which a few wrong labels barely move.
    """
    scores, correct = correctness(records, predictions)
    if correct.all() or not correct.any():
        return Calibration()
    fit = LogisticRegression(C=1e4).fit(_logit(scores)[:, None], correct)
    a = float(fit.coef_[0, 0])
    return Calibration(1.0 / a, float(fit.intercept_[0])) if a > 0 else Calibration()
