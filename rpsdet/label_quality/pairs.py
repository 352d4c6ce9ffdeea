"""Near-duplicate label disagreement: two images that validation found to be (near-)copies of each other should
carry the same boxes. Where they do not, one of the two is wrong, and no model is needed to see it.

Validation keeps such images and flags them (`ImageRecord.flags`, written as "rpsdet_flags" in the COCO file):
  flags["leakage"] = {"reference": <train-source path>, "distance": int, "kind": "exact" | "near"}  (test records)
  flags["near_duplicate"] = {"of": <path in the same source>, "distance": int}
`partner_refs` is the one place that reads those names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord, image_id_for
from rpsdet.evaluate.matching import iou_matrix

REFERENCE_SIDE = "train"  # the source a test image leaks from (validation checks test against train)


@dataclass(frozen=True)
class PartnerRef:
    relation: str  # leakage | near_duplicate
    side: str  # the partner's source: train | test
    image_id: int  # its canonical id (image_id_for(f"{side}/{path}"), as rpsdet.validate.run assigns it)
    path: str  # relative to that source's root
    distance: int  # perceptual-hash bits apart (0 for an exact copy)


def partner_refs(record: ImageRecord, side: str) -> list[PartnerRef]:
    """The images validation paired with this one, from its flags."""
    refs = []
    if leak := record.flags.get("leakage"):
        ref = leak["reference"]
        refs.append(
            PartnerRef("leakage", REFERENCE_SIDE, image_id_for(f"{REFERENCE_SIDE}/{ref}"), ref, int(leak["distance"]))
        )
    if near := record.flags.get("near_duplicate"):
        refs.append(
            PartnerRef("near_duplicate", side, image_id_for(f"{side}/{near['of']}"), near["of"], int(near["distance"]))
        )
    return refs


@dataclass
class Disagreement:
    kind: str  # class (same box, other class) | missing_in_partner | missing_in_image
    box: list[float]  # in the image (xyxy pixels), [] when missing there
    label: str
    partner_box: list[float]  # in the partner, [] when missing there
    partner_label: str
    iou: float  # of the two boxes in relative coordinates (0 when one is missing)


@dataclass
class Pair:
    side: str
    record: ImageRecord  # the flagged image
    partner_side: str
    partner: ImageRecord  # the image it copies
    relation: str
    distance: int
    disagreements: list[Disagreement] = field(default_factory=list)

    def order(self) -> tuple:
        """Worst first: the closer the two images, the surer it is that one label is wrong; then the most boxes."""
        return self.distance, -len(self.disagreements), self.side, self.record.id


def _relative(rec: ImageRecord) -> np.ndarray:
    """Boxes as fractions of the image, so a resized copy compares with its original."""
    scale = np.array([rec.width, rec.height, rec.width, rec.height], dtype=np.float64)
    return np.asarray(rec.boxes, dtype=np.float64).reshape(-1, 4) / scale


def _moved(
    a: ImageRecord, b: ImageRecord, ra: np.ndarray, rb: np.ndarray, rest_a: list[int], rest_b: list[int]
) -> list[tuple[int, int]]:
    """Boxes left over by the IoU match that are the same hand moved a little: consecutive video frames pass as
    near-duplicates while a small hand shifts by most of its width. Same class only (a nearby box of another class
    stays unmatched, so it is still reported), one to one by centre distance, within one box diagonal."""
    if not rest_a or not rest_b:
        return []
    ca, cb = (ra[rest_a, :2] + ra[rest_a, 2:]) / 2, (rb[rest_b, :2] + rb[rest_b, 2:]) / 2
    da, db = np.hypot(*(ra[rest_a, 2:] - ra[rest_a, :2]).T), np.hypot(*(rb[rest_b, 2:] - rb[rest_b, :2]).T)
    reach = np.maximum(da[:, None], db[None, :])
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) / np.maximum(reach, 1e-9)
    same = np.equal.outer([a.labels[i] for i in rest_a], [b.labels[j] for j in rest_b])
    dist = np.where(same, dist, 1e6)
    rows, cols = linear_sum_assignment(dist)
    return [(rest_a[r], rest_b[c]) for r, c in zip(rows, cols) if dist[r, c] <= 1.0]


def compare_boxes(a: ImageRecord, b: ImageRecord, min_iou: float) -> list[Disagreement]:
    """Match a's boxes to b's one to one by IoU (class-blind), then the same-class leftovers by position (a moved
    hand); report class changes and boxes with no counterpart."""
    ra, rb = _relative(a), _relative(b)
    ious = iou_matrix(ra, rb)
    rows, cols = linear_sum_assignment(-ious) if ious.size else (np.array([], int), np.array([], int))
    matched = [(i, j) for i, j in zip(rows, cols) if ious[i, j] >= min_iou]
    matched += _moved(
        a,
        b,
        ra,
        rb,
        [i for i in range(len(a.boxes)) if i not in {m for m, _ in matched}],
        [j for j in range(len(b.boxes)) if j not in {m for _, m in matched}],
    )
    out = [
        Disagreement(
            "class",
            list(a.boxes[i]),
            CLASS_NAMES[a.labels[i]],
            list(b.boxes[j]),
            CLASS_NAMES[b.labels[j]],
            round(float(ious[i, j]), 3),
        )
        for i, j in matched
        if a.labels[i] != b.labels[j]
    ]
    used_a, used_b = {i for i, _ in matched}, {j for _, j in matched}
    out += [
        Disagreement("missing_in_partner", list(a.boxes[i]), CLASS_NAMES[a.labels[i]], [], "", 0.0)
        for i in range(len(a.boxes))
        if i not in used_a
    ]
    out += [
        Disagreement("missing_in_image", [], "", list(b.boxes[j]), CLASS_NAMES[b.labels[j]], 0.0)
        for j in range(len(b.boxes))
        if j not in used_b
    ]
    return out


def find_pairs(sources: dict[str, list[ImageRecord]], min_iou: float) -> tuple[list[Pair], list[dict]]:
    """Every flagged pair whose partner is among the kept records, compared box by box.

    Returns (pairs, unresolved): a partner that is not a kept record (quarantined for another reason, or from a
    source not given) is listed in `unresolved`, never dropped silently.
    """
    by_id = {(side, r.id): r for side, records in sources.items() for r in records}
    pairs, unresolved = [], []
    for side, records in sources.items():
        for rec in records:
            for ref in partner_refs(rec, side):
                partner = by_id.get((ref.side, ref.image_id))
                if partner is None:
                    unresolved.append(
                        {
                            "side": side,
                            "image_id": rec.id,
                            "file_name": rec.file_name,
                            "relation": ref.relation,
                            "partner": f"{ref.side}/{ref.path}",
                        }
                    )
                    continue
                pairs.append(
                    Pair(side, rec, ref.side, partner, ref.relation, ref.distance, compare_boxes(rec, partner, min_iou))
                )
    return sorted(pairs, key=Pair.order), unresolved
