"""DVC stage: cleanlab label quality on the test split (every model that never trained on it, averaged) and, with
train_folds > 0, on the train split by K-fold cross-validation; near-duplicate pairs whose labels disagree join the
same review queue. Writes data/label_quality/ and metrics/label_quality.json."""
from dataclasses import asdict
from pathlib import Path

from rpsdet.data.coco import read_coco
from rpsdet.files import write_json
from rpsdet.label_quality import evidence, predictions, queue, scoring
from rpsdet.label_quality.measure import injected_noise, precision_recall
from rpsdet.label_quality.pairs import find_pairs
from rpsdet.model.device import pick_device, set_threads
from rpsdet.params import load_params
from rpsdet.train.loop import TrainConfig

params = load_params()
cfg, split = params["label_quality"], params["split"]
set_threads(params["train"]["threads"])
device = str(pick_device(params["train"]["device"]))
splits, out = Path("data/splits") / split["version"], Path("data/label_quality")
validated = {side: Path("data/validated") / side / "annotations.json" for side in ("train", "test")}
pairs, _ = find_pairs({side: read_coco(p) for side, p in validated.items()}, cfg["pair_iou"])
pairs = [p for p in pairs if p.disagreements]
metrics: dict = {"action": cfg["action"], "models": cfg["models"], "score_floor": cfg["score_floor"]}

jobs = [("test", None)] + ([("train", cfg["train_folds"])] if cfg["train_folds"] else [])
for name, folds in jobs:
    coco_path = splits / f"{name}.json"
    records = read_coco(coco_path)
    if folds:
        train_cfg = TrainConfig(**{**params["train"], "epochs": cfg["fold_epochs"], "max_minutes": None,
                                   "resume": False})
        found = predictions.kfold(coco_path, records, folds, train_cfg, out / "folds", cfg["score_floor"], device)
    else:
        found = predictions.ensemble([Path(m) for m in cfg["models"]], coco_path, records, cfg["score_floor"],
                                     device)
    calibration = evidence.fit_calibration(records, found) if cfg["calibrate"] else evidence.Calibration()
    reviews = scoring.review(records, evidence.calibrate(found, calibration))
    ids = {r.id for r in records}
    mine = [p for p in pairs if p.record.id in ids or p.partner.id in ids]
    pair_ids = {r.id for p in mine for r in (p.record, p.partner) if r.id in ids}
    queue.write_page(out / name, f"Label review: {name} split",
                     queue.write_pairs(out / name, mine, validated),
                     queue.write_singles(out / name, reviews, coco_path, records, cfg["review_top"]))
    kept = queue.write_reviewed(out / f"{name}_reviewed.json", coco_path, records, reviews, pair_ids, cfg["action"])
    metrics[name] = {"images": len(records), "calibration": {k: round(v, 4) for k, v in asdict(calibration).items()},
                     "flagged": sum(r.issue for r in reviews), "disagreeing_pairs": len(mine),
                     "in_disagreeing_pairs": len(pair_ids), "kept": kept}
    manifest = Path(params["data"]["source"]) / name / "defects_manifest.json"
    if manifest.is_file():  # injected label noise (synthetic data): the verdict and the ranking against the answers
        metrics[name]["vs_injected_noise"] = precision_recall(reviews, injected_noise(manifest, name))
write_json(Path("metrics") / "label_quality.json", metrics)
print(metrics)
