"""The evaluation job: one inference pass (rpsdet.evaluate.inference) over a canonical dataset, then metrics,
slices, plots, per-image table, gallery. `evaluate_checkpoint` is what the evaluate stage and `rpsdet evaluate` run.

Metrics and slices are written for the full test set and for its leak-free part (rpsdet.evaluate.leakage).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rpsdet.data.coco import ImageRecord, read_coco, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics, detections_to_coco, pr_curves, run_cocoeval, summarize
from rpsdet.evaluate.gallery import write_gallery
from rpsdet.evaluate.inference import predict_images
from rpsdet.evaluate.leakage import LEAK_FREE, is_leaked
from rpsdet.evaluate.matching import ImageErrors, confusion_rows, match_image, precision_recall_f1, worst_error
from rpsdet.evaluate.slices import BOX_SIZES, SliceThresholds, box_size, image_attributes, standard_rules
from rpsdet.files import write_json
from rpsdet.model.predict import Detection, Detector


@dataclass
class EvalOutputs:
    """Where one evaluation writes: `data_dir` is a DVC output, `metrics_dir` is git-tracked."""

    data_dir: Path  # predictions.json, ground_truth.json, per_image.csv, gallery/
    metrics_file: Path  # eval.json
    slices_file: Path  # slices.json
    plots_dir: Path  # pr/<class>.csv, confusion.csv


def _subset(records: list[ImageRecord], results: list[dict], ids: set[int]) -> tuple[dict, list[dict]]:
    return to_coco_dict([r for r in records if r.id in ids]), [d for d in results if d["image_id"] in ids]


def slice_metrics(
    records: list[ImageRecord], results: list[dict], attributes: dict[int, dict], by_size: dict[str, dict]
) -> dict:
    """mAP50 and image count for every slice with images.

    Image slices are scored by pycocotools on the slice's images only; box-size slices use COCOeval's own
    small/medium/large area ranges over the whole set (`by_size`).
    """
    slices: dict[str, dict] = {}
    for rule in standard_rules():
        ids = {i for i, a in attributes.items() if rule.matches(a)}
        if not ids:
            continue
        gt, dets = _subset(records, results, ids)
        m = coco_metrics(gt, dets)
        slices[str(rule)] = {"images": len(ids), "boxes": len(gt["annotations"]), "map50": m["map50"], "map": m["map"]}
    for size in BOX_SIZES:
        ids = {r.id for r in records if any(box_size(b) == size for b in r.boxes)}
        if ids:
            boxes = sum(box_size(b) == size for r in records for b in r.boxes)
            slices[f"box_size=={size}"] = {"images": len(ids), "boxes": boxes, "map50": by_size[size]["map50"]}
    return slices


def leak_free_metrics(
    records: list[ImageRecord], results: list[dict], errors: dict[int, dict[str, int]], attributes: dict[int, dict]
) -> tuple[dict, dict]:
    """Leak-free headline and slice metrics: pycocotools on the ground truth and results of the images that copy no
    training image (with none leaked, the same numbers as the full test set)."""
    clean = [r for r in records if not is_leaked(r)]
    ids = {r.id for r in clean}
    gt, dets = _subset(records, results, ids)
    metrics = coco_metrics(gt, dets)
    totals = {k: sum(errors[i][k] for i in ids) for k in ("tp", "fp", "fn", "wrong_class")}
    metrics.update(precision_recall_f1(totals["tp"], totals["fp"], totals["fn"], totals["wrong_class"]))
    metrics.update({"images": len(clean), "boxes": len(gt["annotations"]), **totals})
    slices = slice_metrics(clean, dets, {i: attributes[i] for i in ids}, metrics["by_size"])
    return metrics, slices


def with_leak_free_slices(full: dict[str, dict], leak_free: dict[str, dict]) -> dict[str, dict]:
    """Each full-test slice gains a `leak_free` entry with the same keys (zero images when all of it leaked)."""
    empty = {"images": 0, "boxes": 0, "map50": None, "map": None}
    return {
        name: {**m, LEAK_FREE: leak_free.get(name, {k: v for k, v in empty.items() if k in m})}
        for name, m in full.items()
    }


def evaluate_model(
    detector: Detector,
    coco_path: Path,
    out: EvalOutputs,
    score_threshold: float,
    thresholds: SliceThresholds,
    batch_size: int = 8,
    gallery: bool = True,
) -> dict:
    """Run the full evaluation and write every artefact; returns the headline metrics."""
    started = time.time()
    records = read_coco(coco_path)
    names = detector.class_names
    results: list[dict] = []
    attributes: dict[int, dict] = {}
    kept: dict[int, list[Detection]] = {}
    for p in predict_images(detector, coco_path, records, batch_size=batch_size, desc=f"evaluate {coco_path.name}"):
        results.extend(detections_to_coco(p.record.id, p.detections))
        kept[p.record.id] = [d for d in p.detections if d.score >= score_threshold]
        attributes[p.record.id] = image_attributes(p.image, len(p.record.boxes), thresholds)
    predict_seconds = time.time() - started

    ground_truth = to_coco_dict(records)
    ev = run_cocoeval(ground_truth, results)
    metrics = summarize(ev)

    rows, confusion, errors_by_id, counts_by_id = [], [], {}, {}
    totals = {"tp": 0, "fp": 0, "fn": 0, "wrong_class": 0}
    for rec in records:
        dets = kept[rec.id]
        errors: ImageErrors = match_image(
            np.asarray(rec.boxes),
            np.asarray(rec.labels),
            np.asarray([d.box for d in dets]),
            np.asarray([d.label for d in dets]),
            np.asarray([d.score for d in dets]),
        )
        errors_by_id[rec.id] = errors
        counts = counts_by_id[rec.id] = {k: errors.count(k) for k in totals}
        for k, v in counts.items():
            totals[k] += v
        confusion.extend(confusion_rows(errors, names))
        rows.append(
            {
                "image_id": rec.id,
                "file_name": rec.file_name,
                "gt": len(rec.boxes),
                "pred": len(dets),
                **counts,
                "errors": counts["fp"] + counts["fn"] + counts["wrong_class"],
                "worst_error": worst_error(errors, names),
                "leaked": is_leaked(rec),
                **attributes[rec.id],
            }
        )
    table = pd.DataFrame(rows).sort_values(["errors", "fn"], ascending=False, kind="stable")

    metrics.update(precision_recall_f1(totals["tp"], totals["fp"], totals["fn"], totals["wrong_class"]))
    leak_free, leak_free_slices = leak_free_metrics(records, results, counts_by_id, attributes)
    metrics.update(
        {
            "score_threshold": score_threshold,
            "images": len(records),
            "leaked_images": len(records) - leak_free["images"],
            **totals,
            "predict_ms_per_image": round(1000 * predict_seconds / max(1, len(records)), 1),
            LEAK_FREE: leak_free,
        }
    )

    out.data_dir.mkdir(parents=True, exist_ok=True)
    write_json(out.data_dir / "predictions.json", results)
    write_json(out.data_dir / "ground_truth.json", ground_truth)
    table.to_csv(out.data_dir / "per_image.csv", index=False)
    write_json(out.metrics_file, metrics)
    write_json(
        out.slices_file,
        with_leak_free_slices(slice_metrics(records, results, attributes, metrics["by_size"]), leak_free_slices),
    )
    (out.plots_dir / "pr").mkdir(parents=True, exist_ok=True)
    for name, curve in pr_curves(ev).items():
        pd.DataFrame(curve, columns=["recall", "precision"]).to_csv(out.plots_dir / "pr" / f"{name}.csv", index=False)
    with open(out.plots_dir / "confusion.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["actual", "predicted"])
        writer.writeheader()
        writer.writerows(confusion)
    if gallery:
        by_id = {r.id: r for r in records}
        write_gallery(
            out.data_dir / "gallery", coco_path, [by_id[i] for i in table["image_id"]], errors_by_id, attributes, names
        )
    return metrics


def evaluate_checkpoint(
    checkpoint: Path, coco_path: Path, out: EvalOutputs, *, cfg: dict, threads: int = 0, device: str = "auto"
) -> dict:
    """evaluate_model for a checkpoint file with params `evaluate:` (`cfg`; backend, score_threshold, slices,
    gallery, each with the default params.yaml ships) on `threads` torch threads and `device`."""
    from rpsdet.model.device import pick_device, set_threads

    set_threads(threads)
    detector = Detector.from_checkpoint(Path(checkpoint), str(pick_device(device)), cfg.get("backend", "auto"))
    return evaluate_model(
        detector,
        Path(coco_path),
        out,
        cfg.get("score_threshold", 0.4),
        SliceThresholds(**cfg.get("slices", {})),
        gallery=cfg.get("gallery", True),
    )
