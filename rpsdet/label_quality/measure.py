"""Label quality against known answers: the label noise injected into the synthetic test source."""

from __future__ import annotations

import json
from pathlib import Path

from rpsdet.data.coco import image_id_for
from rpsdet.label_quality.scoring import Review


def injected_noise(manifest: Path, side: str) -> set[int]:
    """Canonical ids of the images whose labels rpsdet.data.defects damaged on purpose (check 'label_issue')."""
    return {
        image_id_for(f"{side}/{m['image']}")
        for m in json.loads(Path(manifest).read_text())
        if m["check"] == "label_issue"
    }


def precision_recall(reviews: list[Review], noisy_ids: set[int]) -> dict:
    """The verdict against the answers, and the review queue's order (as ranked by `review`): precision and recall
    of its top k images, k = the number of noisy images present (so the two are equal)."""
    flagged = {r.image_id for r in reviews if r.issue}
    present = noisy_ids & {r.image_id for r in reviews}
    hit = len(flagged & present)
    k = len(present)
    top = len({r.image_id for r in reviews[:k]} & present)
    return {
        "flagged": len(flagged),
        "noisy": k,
        "true_positives": hit,
        "precision": round(hit / len(flagged), 4) if flagged else 0.0,
        "recall": round(hit / k, 4) if k else 0.0,
        "k": k,
        "precision_at_k": round(top / k, 4) if k else 0.0,
        "recall_at_k": round(top / k, 4) if k else 0.0,
    }
