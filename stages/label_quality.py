"""DVC stage: cleanlab label quality on the test split (round-1 model) and, with train_folds > 0, on the train
split by K-fold cross-validation. Writes data/label_quality/ and metrics/label_quality.json."""
import json
from pathlib import Path

from rpsdet.data.coco import image_id_for, read_coco
from rpsdet.files import write_json
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.train.loop import TrainConfig
from rpsdet.validate import label_quality as lq

params = load_params()
cfg, split = params["label_quality"], params["split"]
splits, out = Path("data/splits") / split["version"], Path("data/label_quality")
metrics: dict = {"action": cfg["action"]}

jobs = [("test", None)] + ([("train", cfg["train_folds"])] if cfg["train_folds"] else [])
for name, folds in jobs:
    coco_path = splits / f"{name}.json"
    records = read_coco(coco_path)
    if folds:
        train_cfg = TrainConfig(**{**params["train"], "epochs": cfg["fold_epochs"], "max_minutes": None,
                                   "resume": False})
        detections = lq.kfold_detections(coco_path, records, folds, train_cfg, out / "folds", cfg["score_threshold"])
    else:
        detections = lq.predict(Detector.from_checkpoint(Path(cfg["model"])), coco_path, records,
                                cfg["score_threshold"])
    reviews = lq.review(records, detections)
    lq.write_queue(out / name, reviews, coco_path, records, cfg["review_top"])
    kept = lq.write_reviewed(out / f"{name}_reviewed.json", coco_path, records, reviews, cfg["action"])
    metrics[name] = {"images": len(records), "flagged": sum(r.issue for r in reviews), "kept": kept}
    manifest = Path(params["data"]["source"]) / name / "defects_manifest.json"
    if manifest.is_file():  # injected label noise (synthetic data): measure cleanlab against the ground truth
        noisy = {image_id_for(f"{name}/{m['image']}") for m in json.loads(manifest.read_text())
                 if m["check"] == "label_issue"}
        metrics[name]["vs_injected_noise"] = lq.precision_recall(reviews, noisy)
write_json(Path("metrics") / "label_quality.json", metrics)
print(metrics)
