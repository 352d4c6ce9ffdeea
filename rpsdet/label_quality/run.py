"""The two label-quality steps of the pipeline: disagreeing near-duplicate pairs (no model, right after
validation) and cleanlab on out-of-sample predictions of each split (after training), in one review queue."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rpsdet.data.coco import read_coco
from rpsdet.files import write_json
from rpsdet.label_quality import evidence, predictions, queue, scoring
from rpsdet.label_quality.measure import injected_noise, precision_recall
from rpsdet.label_quality.pairs import find_pairs


def label_pairs(*, validated: dict[str, Path], pair_iou: float, out: Path, metrics_json: Path) -> str:
    """Near-duplicate pairs across the validated sources (side -> annotations.json) whose labels disagree:
    a review page in `out` and counts in `metrics_json`. Returns the one-line account."""
    pairs, unresolved = find_pairs({side: read_coco(p) for side, p in validated.items()}, pair_iou)
    disagreeing = [p for p in pairs if p.disagreements]
    rows = queue.write_pairs(out, disagreeing, validated)
    queue.write_page(out, "Near-duplicate label disagreements", rows, [])
    metrics = {
        "pairs": len(pairs),
        "disagreeing": len(disagreeing),
        "unresolved": unresolved,
        **{
            relation: {
                "pairs": sum(p.relation == relation for p in pairs),
                "disagreeing": sum(p.relation == relation for p in disagreeing),
            }
            for relation in ("leakage", "near_duplicate")
        },
    }
    write_json(metrics_json, metrics)
    return f"{len(pairs)} near-duplicate pairs, {len(disagreeing)} with disagreeing labels: {out / 'review.html'}"


def label_quality(
    *,
    cfg: dict[str, Any],
    splits: Path,
    validated: dict[str, Path],
    source: Path,
    out: Path,
    metrics_json: Path,
    device: str,
    train_params: dict[str, Any] | None = None,
) -> dict:
    """cleanlab on the test split (every model of cfg["models"], none trained on it, averaged) and, with
    cfg["train_folds"] > 0, on the train split by K-fold cross-validation (`train_params` is then the recipe);
    near-duplicate pairs whose labels disagree join each split's queue. `source`/<split>/defects_manifest.json,
    when there (synthetic data), scores the verdict against the injected noise."""
    from rpsdet.train.loop import TrainConfig  # K-fold trains: torch only when this step runs

    pairs, _ = find_pairs({side: read_coco(p) for side, p in validated.items()}, cfg["pair_iou"])
    pairs = [p for p in pairs if p.disagreements]
    metrics: dict = {"action": cfg["action"], "models": cfg["models"], "score_floor": cfg["score_floor"]}
    jobs = [("test", None)] + ([("train", cfg["train_folds"])] if cfg["train_folds"] else [])
    for name, folds in jobs:
        coco_path = splits / f"{name}.json"
        records = read_coco(coco_path)
        if folds:
            train_cfg = TrainConfig(
                **{**train_params, "epochs": cfg["fold_epochs"], "max_minutes": None, "resume": False}
            )
            found = predictions.kfold(coco_path, records, folds, train_cfg, out / "folds", cfg["score_floor"], device)
        else:
            found = predictions.ensemble(
                [Path(m) for m in cfg["models"]], coco_path, records, cfg["score_floor"], device
            )
        calibration = evidence.fit_calibration(records, found) if cfg["calibrate"] else evidence.Calibration()
        reviews = scoring.review(records, evidence.calibrate(found, calibration))
        ids = {r.id for r in records}
        mine = [p for p in pairs if p.record.id in ids or p.partner.id in ids]
        pair_ids = {r.id for p in mine for r in (p.record, p.partner) if r.id in ids}
        queue.write_page(
            out / name,
            f"Label review: {name} split",
            queue.write_pairs(out / name, mine, validated),
            queue.write_singles(out / name, reviews, coco_path, records, cfg["review_top"]),
        )
        kept = queue.write_reviewed(out / f"{name}_reviewed.json", coco_path, records, reviews, pair_ids, cfg["action"])
        metrics[name] = {
            "images": len(records),
            "calibration": {k: round(v, 4) for k, v in asdict(calibration).items()},
            "flagged": sum(r.issue for r in reviews),
            "disagreeing_pairs": len(mine),
            "in_disagreeing_pairs": len(pair_ids),
            "kept": kept,
        }
        manifest = Path(source) / name / "defects_manifest.json"
        if manifest.is_file():  # injected label noise (synthetic data): the verdict and ranking against the answers
            metrics[name]["vs_injected_noise"] = precision_recall(reviews, injected_noise(manifest, name))
    write_json(metrics_json, metrics)
    return metrics
