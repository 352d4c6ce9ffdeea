"""Label quality against the injected label noise: what each model, the models' average and calibration give.

Run after `dvc repro` (it needs the synthetic test source's defects_manifest.json). For every model of
label_quality.models alone, any extra checkpoints given on the command line (that never trained on the test set:
weaker or stronger models, to see precision / recall against model quality), and the average of
label_quality.models (what the stage uses), it predicts the test split once down to label_quality.score_floor, then
scores, side by side:
  - the default verdict (rpsdet.label_quality.scoring.review) with and without temperature calibration, and at
    the old floor of 0.05 (the same predictions, cut there);
  - cleanlab's own verdict alone (find_label_issues on the same predictions);
  - the ranking: precision@k (= recall@k) for k = the number of noisy images.
Model quality is the test mAP50 of those predictions (pycocotools, against the test labels as given).
Writes metrics/bench_label_quality.json and prints a table.

    python bench/bench_label_quality.py [--models CKPT ...]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from machine import machine_info
from rpsdet.data.coco import ImageRecord, read_coco, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics
from rpsdet.files import write_json
from rpsdet.label_quality import evidence, scoring
from rpsdet.label_quality.measure import injected_noise, precision_recall
from rpsdet.label_quality.predictions import predict
from rpsdet.model.device import set_threads
from rpsdet.model.predict import Detector
from rpsdet.params import load_params

OLD_FLOOR = 0.05  # the floor before this release


def map50(records: list[ImageRecord], preds: list[evidence.Prediction]) -> float:
    results = [
        {"image_id": r.id, "category_id": c + 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s}
        for r, p in zip(records, preds)
        for c, rows in enumerate(p)
        for x1, y1, x2, y2, s in rows.tolist()
    ]
    return round(coco_metrics(to_coco_dict(records), results)["map50"], 4)


def cut(preds: list[evidence.Prediction], floor: float) -> list[evidence.Prediction]:
    """The predictions a higher floor would have given (the Detector's detections above a threshold are the same
    whatever lower threshold it ran at)."""
    return [[a[a[:, 4] >= floor] for a in p] for p in preds]


def variant(records: list[ImageRecord], preds: list[evidence.Prediction], noisy: set[int], calibrate: bool) -> dict:
    cal = evidence.fit_calibration(records, preds) if calibrate else evidence.Calibration()
    reviews = scoring.review(records, evidence.calibrate(preds, cal))
    cleanlab_only = [
        scoring.Review(r.image_id, "", r.cleanlab_score, r.cleanlab_issue, "", [], "", 0.0, False)
        for r in sorted(reviews, key=lambda r: (not r.cleanlab_issue, r.cleanlab_score, r.image_id))
    ]
    ours, theirs = precision_recall(reviews, noisy), precision_recall(cleanlab_only, noisy)
    keys = ("flagged", "precision", "recall", "precision_at_k")
    return {
        "temperature": round(cal.temperature, 3),
        "shift": round(cal.shift, 3),
        **{k: ours[k] for k in keys},
        "cleanlab_alone": {k: theirs[k] for k in keys},
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="*", default=[], help="extra checkpoints that never saw the test set")
    args = parser.parse_args()
    params = load_params()
    cfg = params["label_quality"]
    set_threads(params["train"]["threads"])
    coco_path = Path("data/splits") / params["split"]["version"] / "test.json"
    manifest = Path(params["data"]["source"]) / "test" / "defects_manifest.json"
    if not manifest.is_file():
        sys.exit(f"{manifest} not found: this benchmark needs the synthetic test source's injected label noise")
    records = read_coco(coco_path)
    noisy = injected_noise(manifest, "test")
    floor = cfg["score_floor"]
    per_model, seconds = {}, {}
    for m in [*cfg["models"], *args.models]:
        start = time.perf_counter()
        per_model[m] = predict(Detector.from_checkpoint(Path(m)), coco_path, records, floor)
        seconds[m] = round(time.perf_counter() - start, 1)
    sets = {m: per_model[m] for m in per_model}
    if len(cfg["models"]) > 1:
        start = time.perf_counter()
        sets["average of " + " + ".join(cfg["models"])] = [
            evidence.fuse(list(x)) for x in zip(*(per_model[m] for m in cfg["models"]))
        ]
        seconds["fusion"] = round(time.perf_counter() - start, 1)
    results = []
    for name, preds in sets.items():
        row = {
            "models": name,
            "map50": map50(records, preds),
            "images": len(records),
            "noisy": len(noisy),
            "calibrated": variant(records, preds, noisy, True),
            "uncalibrated": variant(records, preds, noisy, False),
            f"calibrated_floor_{OLD_FLOOR}": variant(records, cut(preds, OLD_FLOOR), noisy, True),
        }
        results.append(row)
        print(f"scored {name}", flush=True)
    write_json(
        Path("metrics/bench_label_quality.json"),
        {"machine": machine_info(), "score_floor": floor, "predict_seconds": seconds, "results": results},
    )
    print(
        "| models | test mAP50 | verdict P / R (flagged), calibrated (T) | uncalibrated | floor 0.05 | "
        "precision@k calibrated / uncalibrated | cleanlab alone P / R (flagged) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        c, u, o = r["calibrated"], r["uncalibrated"], r[f"calibrated_floor_{OLD_FLOOR}"]
        cl = c["cleanlab_alone"]
        print(
            f"| {r['models']} | {r['map50']} | {c['precision']} / {c['recall']} ({c['flagged']}, "
            f"T {c['temperature']}, shift {c['shift']}) | {u['precision']} / {u['recall']} ({u['flagged']}) | "
            f"{o['precision']} / {o['recall']} "
            f"({o['flagged']}) | {c['precision_at_k']} / {u['precision_at_k']} | {cl['precision']} / "
            f"{cl['recall']} ({cl['flagged']}) |"
        )
    print(f"k = {results[0]['noisy']} noisy images of {results[0]['images']}")


if __name__ == "__main__":
    main()
