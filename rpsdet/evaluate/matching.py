"""Per-image error analysis at the operating score threshold: TP / FP / FN / wrong class, and confusion pairs.

pycocotools matches within each class, so it cannot say "a rock was predicted as scissors"; this class-agnostic
greedy matching (highest score first, IoU >= 0.5) can, and feeds the confusion matrix, the per-image table and
the gallery. COCO mAP itself always comes from pycocotools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKGROUND = "background"


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between (N,4) and (M,4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Outcome:
    """One drawn item of the error analysis: kind is tp, fp, fn or wrong_class."""

    kind: str
    box: tuple[float, float, float, float]
    gt_label: int | None
    pred_label: int | None
    score: float | None
    iou: float


@dataclass
class ImageErrors:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(o.kind == kind for o in self.outcomes)


def match_image(
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    pred_boxes: np.ndarray,
    pred_labels: np.ndarray,
    pred_scores: np.ndarray,
    iou_threshold: float = 0.5,
) -> ImageErrors:
    """Greedy class-agnostic matching of predictions (already filtered by score) to ground truth."""
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    ious = iou_matrix(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    result = ImageErrors()
    for p in np.argsort(-np.asarray(pred_scores), kind="stable"):
        candidates = np.where(~taken, ious[p], -1.0) if len(gt_boxes) else np.array([])
        g = int(np.argmax(candidates)) if len(candidates) else -1
        box = tuple(float(v) for v in pred_boxes[p])
        if g >= 0 and candidates[g] >= iou_threshold:
            taken[g] = True
            kind = "tp" if pred_labels[p] == gt_labels[g] else "wrong_class"
            result.outcomes.append(
                Outcome(kind, box, int(gt_labels[g]), int(pred_labels[p]), float(pred_scores[p]), float(candidates[g]))
            )
        else:
            best = float(ious[p].max()) if len(gt_boxes) else 0.0
            result.outcomes.append(Outcome("fp", box, None, int(pred_labels[p]), float(pred_scores[p]), best))
    for g in np.where(~taken)[0]:
        best = float(ious[:, g].max()) if len(pred_boxes) else 0.0
        result.outcomes.append(Outcome("fn", tuple(float(v) for v in gt_boxes[g]), int(gt_labels[g]), None, None, best))
    return result


def confusion_rows(errors: ImageErrors, class_names: list[str]) -> list[dict[str, str]]:
    """One {actual, predicted} row per outcome, with 'background' for misses and false alarms (DVC's format)."""
    name = lambda i: BACKGROUND if i is None else class_names[i]  # noqa: E731
    return [{"actual": name(o.gt_label), "predicted": name(o.pred_label)} for o in errors.outcomes]


def precision_recall_f1(tp: int, fp: int, fn: int, wrong: int) -> dict[str, float]:
    """A wrong-class match is both a false alarm (for the predicted class) and a miss (for the true one)."""
    predicted, actual = tp + fp + wrong, tp + fn + wrong
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def worst_error(errors: ImageErrors, class_names: list[str]) -> str:
    """The one-line headline for an image: wrong class beats a miss beats a false alarm."""
    for kind in ("wrong_class", "fn", "fp"):
        items = [o for o in errors.outcomes if o.kind == kind]
        if not items:
            continue
        if kind == "wrong_class":
            o = max(items, key=lambda o: o.score or 0)
            return f"{class_names[o.gt_label]} predicted as {class_names[o.pred_label]} ({o.score:.2f})"
        if kind == "fn":
            o = min(items, key=lambda o: o.iou)
            return f"missed {class_names[o.gt_label]} (best IoU {o.iou:.2f})"
        o = max(items, key=lambda o: o.score or 0)
        return f"false {class_names[o.pred_label]} ({o.score:.2f})"
    return ""
