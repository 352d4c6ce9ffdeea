"""cleanlab's object-detection label quality, with what it scores badly handled explicitly, ranked by a real
per-box score.

cleanlab scores every labelled box for a swapped class and a bad location, and every confident predicted box
that no label covers for an overlooked object. Its blind spots, handled here:
  - a labelled box with no prediction of its class above 0.5 over it gets a badly-located score of exactly 1.0
    ("clean"), and a swap score of 1.0 unless another class is predicted there above 0.95: a box drawn where the
    model sees nothing, or sees another class at 0.9, passes. Such a box is scored instead by its *support*: the
    best score x IoU of a prediction of its class over it (0 where the model sees nothing of that class). It is
    "swapped" when a prediction of another class supports it better, else "unsupported";
  - an image labelled as background where the model finds hands is only caught above 0.95; here its score is
    1 - the best prediction's score (a suspect missing label);
  - the image order: each image is ranked by its worst box score, never by a constant 1.0.
The verdict on these explicit scores uses cleanlab's own cut-off (find_label_issues flags a box at or below
0.8 x 0.25 x its class's AP over the set; an explicit score is flagged below it), so it tightens with a weak model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from cleanlab.internal.constants import ALPHA, BADLOC_THRESHOLD_FACTOR, OVERLOOKED_THRESHOLD_FACTOR
from cleanlab.object_detection import filter as cl_filter
from cleanlab.object_detection import rank as cl_rank

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord
from rpsdet.evaluate.matching import iou_matrix
from rpsdet.label_quality.evidence import Prediction

KINDS = ("swapped", "badly_located", "unsupported", "overlooked", "missing_label")


@dataclass
class Review:
    image_id: int
    file_name: str
    score: float  # its worst box's score, 0 (surely wrong) .. 1 (clean): the ranking
    issue: bool  # the verdict: cleanlab's find_label_issues, or an explicit box score below cleanlab's cut-off
    kind: str  # of the worst box: one of KINDS, '' for an image with neither labels nor predictions
    box: list[float]  # that box, xyxy pixels ([] when none)
    label: str  # its class as labelled (as predicted, for an overlooked box or a missing label)
    cleanlab_score: float  # cleanlab's own image score (get_label_quality_scores), for reference
    cleanlab_issue: bool  # cleanlab's own verdict


def cleanlab_labels(records: list[ImageRecord]) -> list[dict]:
    return [
        {
            "bboxes": np.asarray(r.boxes, dtype=np.float64).reshape(-1, 4),
            "labels": np.asarray(r.labels, dtype=np.int64),
            "image_name": r.file_name,
        }
        for r in records
    ]


def support(boxes: np.ndarray, labels: np.ndarray, pred: Prediction, same_class: bool) -> np.ndarray:
    """Per labelled box: the best score x IoU of a prediction of its class (any class: `same_class` False) over it;
    0 when nothing overlaps."""
    out = np.zeros(len(boxes))
    for j, (box, c) in enumerate(zip(boxes, labels)):
        rows = pred[c] if same_class else np.concatenate(pred)
        if len(rows):
            out[j] = float((iou_matrix(box[None], rows[:, :4])[0] * rows[:, 4]).max())
    return out


class BoxScore(NamedTuple):
    score: float
    kind: str
    box: list[float]
    label: str
    explicit: bool  # scored here, where cleanlab had no evidence (else cleanlab's own per-box score)
    cutoff: float  # an explicit score below this is an issue


def _box_scores(
    label: dict,
    pred: Prediction,
    swap: np.ndarray,
    badloc: np.ndarray,
    overlooked: np.ndarray,
    cutoffs: dict[int, float],
) -> list[BoxScore]:
    """Every scored box of one image; cutoffs: cleanlab's per-class 0.25 x AP."""
    boxes, labels = label["bboxes"], label["labels"]
    flat = np.concatenate([np.c_[a, np.full(len(a), c)] for c, a in enumerate(pred)])
    held, seen = support(boxes, labels, pred, True), support(boxes, labels, pred, False)
    out = []
    for j, (box, c) in enumerate(zip(boxes.tolist(), labels.tolist())):
        out.append(BoxScore(float(swap[j]), "swapped", box, CLASS_NAMES[c], False, 0.0))
        if badloc[j] < 1.0:
            out.append(BoxScore(float(badloc[j]), "badly_located", box, CLASS_NAMES[c], False, 0.0))
        else:  # cleanlab found no prediction of this class to judge the box by
            kind = "swapped" if seen[j] > held[j] else "unsupported"  # another class explains it better
            out.append(BoxScore(float(held[j]), kind, box, CLASS_NAMES[c], True, cutoffs[c] * BADLOC_THRESHOLD_FACTOR))
    for m in np.flatnonzero(~np.isnan(overlooked)):
        out.append(
            BoxScore(float(overlooked[m]), "overlooked", flat[m, :4].tolist(), CLASS_NAMES[int(flat[m, 5])], False, 0.0)
        )
    if len(boxes) == 0 and len(flat):
        m = int(np.argmax(flat[:, 4]))
        c = int(flat[m, 5])
        out.append(
            BoxScore(
                float(1.0 - flat[m, 4]),
                "missing_label",
                flat[m, :4].tolist(),
                CLASS_NAMES[c],
                True,
                cutoffs[c] * OVERLOOKED_THRESHOLD_FACTOR,
            )
        )
    return out


def review(records: list[ImageRecord], predictions: list[Prediction]) -> list[Review]:
    """Score every image; most suspicious first: by worst box score (the verdict is a column, not the order)."""
    if not records:
        return []
    labels = cleanlab_labels(records)
    with warnings.catch_warnings():  # cleanlab warns about images without labels or predictions: handled here
        warnings.simplefilter("ignore")
        issues = cl_filter.find_label_issues(labels, predictions)
        image_scores = cl_rank.get_label_quality_scores(labels, predictions, verbose=False)
        shared = cl_rank._get_valid_inputs_for_compute_scores(ALPHA, labels, predictions)  # computed once for all 3
        swap = cl_rank.compute_swap_box_scores(auxiliary_inputs=shared)
        badloc = cl_rank.compute_badloc_box_scores(auxiliary_inputs=shared)
        overlooked = cl_rank.compute_overlooked_box_scores(auxiliary_inputs=shared)
        cutoffs = cl_filter._get_per_class_ap(labels, predictions)  # what find_label_issues compares boxes with
    out = []
    for i, rec in enumerate(records):
        found = _box_scores(labels[i], predictions[i], swap[i], badloc[i], overlooked[i], cutoffs)
        worst = min(found) if found else BoxScore(1.0, "", [], "", False, 0.0)
        explicit = any(b.explicit and b.score < b.cutoff for b in found)
        out.append(
            Review(
                rec.id,
                rec.file_name,
                worst.score,
                bool(issues[i]) or explicit,
                worst.kind,
                [round(v, 1) for v in worst.box],
                worst.label,
                float(image_scores[i]),
                bool(issues[i]),
            )
        )
    return sorted(out, key=lambda r: (r.score, r.image_id))
