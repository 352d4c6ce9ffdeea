"""cleanlab against the injected label noise: is the verdict limited by its thresholds or by the model?

Run after `dvc repro`. Predicts the test split with the label_quality model (and round 2's when there is one),
then scores cleanlab three ways against the defects manifest's `label_issue` images:
  - the default verdict (`find_label_issues`, what the label_quality stage reports);
  - the ranking alone: precision at k = number of noisy images (R-precision);
  - an oracle: cleanlab's own per-box scores with their thresholds swept and the best pair picked *on these very
    labels*. It is an upper bound on what tuning thresholds could give, not a usable default.
Writes metrics/bench_label_quality.json and prints a table.
"""
from __future__ import annotations

import itertools
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from cleanlab.object_detection import rank as cl_rank

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

from rpsdet.data.coco import image_id_for, read_coco  # noqa: E402
from rpsdet.files import write_json  # noqa: E402
from rpsdet.model.predict import Detector  # noqa: E402
from rpsdet.params import load_params  # noqa: E402
from rpsdet.validate import label_quality as lq  # noqa: E402

HIGH = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)  # cleanlab's default high_probability_threshold is 0.95
LOW = (0.1, 0.3, 0.5)  # and low_probability_threshold 0.5
IMAGE = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)  # an image is flagged when its worst box scores below this


def _pr(flagged: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    hit = int((flagged & noisy).sum())
    return (round(hit / flagged.sum(), 3) if flagged.any() else 0.0), round(hit / noisy.sum(), 3)


def _worst(scores: list[np.ndarray]) -> np.ndarray:
    return np.array([np.nanmin(s) if len(s) and not np.all(np.isnan(s)) else 1.0 for s in scores])


def score_model(model: Path, coco_path: Path, noisy_ids: set[int], threshold: float) -> dict:
    records = read_coco(coco_path)
    detections = lq.predict(Detector.from_checkpoint(model), coco_path, records, threshold)
    labels, predictions = lq.cleanlab_inputs(records, detections)
    noisy = np.array([r.id in noisy_ids for r in records])
    reviews = {r.image_id: r for r in lq.review(records, detections)}
    default = np.array([reviews[r.id].issue for r in records])
    quality = np.array([reviews[r.id].score for r in records])
    top_k = np.zeros(len(records), bool)
    top_k[np.argsort(quality)[:noisy.sum()]] = True
    best = None
    for high, low in itertools.product(HIGH, LOW):
        worst = np.minimum.reduce([
            _worst(cl_rank.compute_overlooked_box_scores(labels=labels, predictions=predictions,
                                                         high_probability_threshold=high)),
            _worst(cl_rank.compute_swap_box_scores(labels=labels, predictions=predictions,
                                                   high_probability_threshold=high)),
            _worst(cl_rank.compute_badloc_box_scores(labels=labels, predictions=predictions,
                                                     low_probability_threshold=low))])
        for cut in IMAGE:
            p, r = _pr(worst < cut, noisy)
            if best is None or min(p, r) > min(best["precision"], best["recall"]):
                best = {"precision": p, "recall": r, "high_probability_threshold": high,
                        "low_probability_threshold": low, "image_threshold": cut, "flagged": int((worst < cut).sum())}
    p, r = _pr(default, noisy)
    return {"model": str(model), "images": len(records), "noisy": int(noisy.sum()),
            "default": {"precision": p, "recall": r, "flagged": int(default.sum())},
            "r_precision": _pr(top_k, noisy)[0], "oracle_thresholds": best}


def main() -> None:
    warnings.filterwarnings("ignore", module="cleanlab")
    params = load_params()
    cfg = params["label_quality"]
    coco_path = Path("data/splits") / params["split"]["version"] / "test.json"
    manifest = Path(params["data"]["source"]) / "test" / "defects_manifest.json"
    if not manifest.is_file():
        sys.exit(f"{manifest} not found: this benchmark needs the synthetic test source's injected label noise")
    noisy_ids = {image_id_for(f"test/{m['image']}") for m in json.loads(manifest.read_text())
                 if m["check"] == "label_issue"}
    models = [Path(cfg["model"]), *[p for p in [Path("models/round2/model.pt")] if p.is_file()]]
    results = [score_model(m, coco_path, noisy_ids, cfg["score_threshold"]) for m in models]
    write_json(Path("metrics/bench_label_quality.json"), {"machine": machine_info(), "models": results})
    print("| model | default verdict P / R | R-precision | oracle thresholds P / R (picked on these labels) |")
    print("|---|---|---|---|")
    for r in results:
        o = r["oracle_thresholds"]
        print(f"| {r['model']} | {r['default']['precision']} / {r['default']['recall']} ({r['default']['flagged']} "
              f"flagged) | {r['r_precision']} | {o['precision']} / {o['recall']} (high {o['high_probability_threshold']},"
              f" low {o['low_probability_threshold']}, image < {o['image_threshold']}) |")


if __name__ == "__main__":
    main()
