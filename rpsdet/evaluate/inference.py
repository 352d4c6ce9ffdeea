"""The one pass that runs a model over a dataset. Every consumer folds its output: COCO results and metrics (here,
and in the training loop's validation), the evaluation report (slices, per-image errors, gallery:
rpsdet.evaluate.report) and label quality (rpsdet.label_quality.predictions)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rpsdet.data.coco import ImageRecord, image_path, read_coco, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics, detections_to_coco
from rpsdet.model.predict import Detection, Detector
from rpsdet.progress import progress

ALL_SCORES = 0.001  # COCO AP needs the full ranking: keep (almost) every detection


@dataclass
class ImagePrediction:
    record: ImageRecord
    image: np.ndarray  # RGB uint8, as the model saw it before its own letterbox
    detections: list[Detection]  # original pixels, every one scoring at least the pass's score_floor


def predict_images(
    detector: Detector,
    coco_path: Path,
    records: list[ImageRecord] | None = None,
    *,
    score_floor: float = ALL_SCORES,
    batch_size: int = 8,
    desc: str | None = None,
    show_progress: bool = True,
) -> Iterator[ImagePrediction]:
    """Each record's image (default: every record of `coco_path`) with its detections, in batches of
    `batch_size`, in record order. `show_progress=False` for callers with a bar of their own."""
    records = read_coco(coco_path) if records is None else records
    with progress(desc or f"predict {Path(coco_path).name}", len(records), silent=not show_progress) as bar:
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            images = []
            for rec in chunk:
                with Image.open(image_path(coco_path, rec)) as im:
                    images.append(np.asarray(im.convert("RGB")))
            for rec, image, dets in zip(chunk, images, detector.predict(images, score_threshold=score_floor)):
                yield ImagePrediction(rec, image, dets)
            bar.update(len(chunk))


def predict_dataset(detector: Detector, coco_path: Path, batch_size: int = 8, show_progress: bool = True) -> list[dict]:
    """COCO results for every image of the dataset (all scores kept)."""
    return [
        result
        for p in predict_images(detector, coco_path, batch_size=batch_size, show_progress=show_progress)
        for result in detections_to_coco(p.record.id, p.detections)
    ]


def evaluate_dataset(
    detector: Detector, coco_path: Path, batch_size: int = 8, show_progress: bool = True
) -> tuple[dict, list[dict]]:
    """pycocotools metrics and the COCO results they were computed from."""
    ground_truth = to_coco_dict(read_coco(coco_path))
    results = predict_dataset(detector, coco_path, batch_size, show_progress)
    return coco_metrics(ground_truth, results), results
