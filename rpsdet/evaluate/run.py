"""Score a detector on a canonical dataset: predictions as COCO results + pycocotools metrics."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rpsdet.data.coco import image_path, read_coco, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics, detections_to_coco
from rpsdet.model.predict import Detector
from rpsdet.progress import progress


def predict_dataset(detector: Detector, coco_path: Path, batch_size: int = 8, show_progress: bool = True) -> list[dict]:
    """COCO results for every image of the dataset (all scores kept: COCO AP needs the full ranking).
    `show_progress=False` for callers with a bar of their own (validation inside the training loop)."""
    records = read_coco(coco_path)
    results: list[dict] = []
    with progress(f"predict {coco_path.name}", len(records), silent=not show_progress) as bar:
        for start in range(0, len(records), batch_size):
            chunk = records[start:start + batch_size]
            images = [np.asarray(Image.open(image_path(coco_path, r)).convert("RGB")) for r in chunk]
            for rec, dets in zip(chunk, detector.predict(images, score_threshold=0.001)):
                results.extend(detections_to_coco(rec.id, dets))
            bar.update(len(chunk))
    return results


def evaluate_dataset(detector: Detector, coco_path: Path, batch_size: int = 8,
                     show_progress: bool = True) -> tuple[dict, list[dict]]:
    ground_truth = to_coco_dict(read_coco(coco_path))
    results = predict_dataset(detector, coco_path, batch_size, show_progress)
    return coco_metrics(ground_truth, results), results
