"""Out-of-sample predictions for label quality: every given model that never trained on the images (round 1 and
round 2 for the test set), or K-fold cross-validation for a training set. Detector and trainer are imported only
where they run, so importing this module stays free of torch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from rpsdet.data.coco import ImageRecord, image_path, write_coco
from rpsdet.data.split import rebase
from rpsdet.label_quality.evidence import Prediction, fuse, to_class_arrays


def predict(detector, coco_path: Path, records: list[ImageRecord], floor: float, batch: int = 8) -> list[Prediction]:
    """One Detector's predictions down to `floor` for each record's image (original pixels, cleanlab's format)."""
    out = []
    for i in range(0, len(records), batch):
        arrays = []
        for rec in records[i:i + batch]:
            with Image.open(image_path(coco_path, rec)) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        out += [to_class_arrays(d) for d in detector.predict(arrays, floor)]
    return out


def ensemble(models: list[Path], coco_path: Path, records: list[ImageRecord], floor: float,
             device: str = "cpu") -> list[Prediction]:
    """Each model's predictions, fused image by image (evidence.fuse): the models' average."""
    from rpsdet.model.predict import Detector

    if not models:
        raise ValueError("label_quality.models is empty: give at least one checkpoint that never saw these images")
    per_model = [predict(Detector.from_checkpoint(Path(m), device), coco_path, records, floor) for m in models]
    return [fuse(list(preds)) for preds in zip(*per_model)]


def kfold(coco_path: Path, records: list[ImageRecord], folds: int, train_cfg, workdir: Path, floor: float,
          device: str = "cpu") -> list[Prediction]:
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
