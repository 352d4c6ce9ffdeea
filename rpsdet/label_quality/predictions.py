"""Out-of-sample predictions for label quality: every given model that never trained on the images (round 1 and
round 2 for the test set), or K-fold cross-validation for a training set. Detector and trainer are imported only
where they run, so importing this module stays free of torch."""

from __future__ import annotations

from pathlib import Path

from rpsdet.data.coco import ImageRecord, write_coco
from rpsdet.data.split import rebase
from rpsdet.label_quality.evidence import Prediction, fuse, to_class_arrays


def predict(detector, coco_path: Path, records: list[ImageRecord], floor: float, batch: int = 8) -> list[Prediction]:
    """One Detector's predictions down to `floor` for each record's image (original pixels, cleanlab's format)."""
    from rpsdet.evaluate.inference import predict_images  # the one inference pass (imports torch)

    return [
        to_class_arrays(p.detections)
        for p in predict_images(detector, coco_path, records, score_floor=floor, batch_size=batch, show_progress=False)
    ]


def ensemble(
    models: list[Path], coco_path: Path, records: list[ImageRecord], floor: float, device: str = "cpu"
) -> list[Prediction]:
    """Each model's predictions, fused image by image (evidence.fuse): the models' average."""
    from rpsdet.model.predict import Detector

    if not models:
        raise ValueError("label_quality.models is empty: give at least one checkpoint that never saw these images")
    per_model = [predict(Detector.from_checkpoint(Path(m), device), coco_path, records, floor) for m in models]
    return [fuse(list(preds)) for preds in zip(*per_model)]


def kfold(
    coco_path: Path, records: list[ImageRecord], folds: int, train_cfg, workdir: Path, floor: float, device: str = "cpu"
) -> list[Prediction]:
    """Out-of-sample predictions for a training set: K models, each predicting the fold it did not train on."""
    from rpsdet.model.predict import Detector
    from rpsdet.train.loop import train

    found: dict[int, Prediction] = {}
    for k in range(folds):  # ids are hashes of the source path: id % folds is a stable, well-mixed fold
        held = [r for r in records if r.id % folds == k]
        rest = [r for r in records if r.id % folds != k]
        fold_dir = Path(workdir) / f"fold{k}"
        write_coco(fold_dir / "train.json", rebase(rest, Path(coco_path).parent, fold_dir))
        write_coco(fold_dir / "val.json", rebase(held, Path(coco_path).parent, fold_dir))
        train(train_cfg, fold_dir / "train.json", fold_dir / "val.json", fold_dir / "model.pt")
        detector = Detector.from_checkpoint(fold_dir / "model.pt", device)
        found.update(zip((r.id for r in held), predict(detector, coco_path, held, floor)))
    return [found[r.id] for r in records]
