"""Time to val mAP50 >= target per training recipe, and what each model scores on test (overall, >= 2 hands).

Each recipe is params.yaml's `train:` settings (the from-scratch recipe: round 1 itself now fine-tunes the synthetic
pretraining) plus a few overrides (RECIPES). It trains from scratch on
the split's train set with the library's loop, evaluates on val after every epoch and stops at the first epoch whose
val mAP50 reaches --target (or after --epochs). The time reported is training only (steps + data loading; the
loop's `train_seconds`), evaluation excluded. The checkpoint the loop ships at that point (best val mAP so far) is
then scored on the test split, overall and on images with at least two hands, where the train source is weakest.
The lr schedule spans --epochs whether or not a recipe stops early: compare recipes at the same --epochs.

Needs the split files: `dvc repro split` writes data/splits/<split.version>/{train,val,test}.json, or pass
--train-json/--val-json/--test-json. Prints a table and writes metrics/bench_time_to_map.json.
Usage: python bench/bench_time_to_map.py [--recipes baseline,mosaic] [--epochs 36] [--target 0.9] [--image-size 192]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from machine import machine_info
from rpsdet.data.coco import read_coco, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics
from rpsdet.evaluate.inference import evaluate_dataset
from rpsdet.files import write_json
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.train.loop import TrainConfig, train

# Overrides on top of params.yaml's train settings.
RECIPES: dict[str, dict[str, Any]] = {
    "baseline": {},
    "mosaic": {"mosaic": 0.5},
    "mosaic_always": {"mosaic": 1.0},  # the dose-response check: every training image a mosaic
}


def test_scores(checkpoint: Path, test_json: Path, device: str) -> dict[str, float | int]:
    """mAP50 on the whole test set and on its images with >= 2 ground-truth boxes."""
    metrics, results = evaluate_dataset(Detector.from_checkpoint(checkpoint, device, backend="torch"), test_json)
    multi = [r for r in read_coco(test_json) if len(r.boxes) >= 2]
    ids = {r.id for r in multi}
    multi_metrics = coco_metrics(to_coco_dict(multi), [d for d in results if d["image_id"] in ids])
    return {
        "test_map50": metrics["map50"],
        "test_map": metrics["map"],
        "test_map50_multi": multi_metrics["map50"],
        "test_multi_images": len(multi),
    }


def run_recipe(cfg: TrainConfig, target: float, paths: dict[str, Path], workdir: Path) -> dict[str, Any]:
    curve: list[dict[str, float]] = []

    def reached(epoch: int, stats: dict[str, float]) -> bool:
        curve.append(
            {
                "epoch": epoch,
                "train_seconds": round(stats["train_seconds"], 2),
                "val_map50": stats["val/map50"],
                "val_map": stats["val/map"],
            }
        )
        return stats["val/map50"] >= target

    checkpoint = workdir / "model.pt"
    summary = train(cfg, paths["train"], paths["val"], checkpoint, stop_when=reached)
    hit = next((row for row in curve if row["val_map50"] >= target), None)
    return {
        "reached": hit is not None,
        "epoch": hit and hit["epoch"],
        "train_seconds": hit and hit["train_seconds"],
        "epochs_run": summary["epochs_run"],
        "train_seconds_run": summary["train_seconds"],
        "best_val_map50": max(row["val_map50"] for row in curve),
        "images_per_s": summary["images_per_s"],
        **test_scores(checkpoint, paths["test"], summary["device"]),
        "curve": curve,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="baseline,mosaic", help=f"comma-separated, of: {', '.join(RECIPES)}")
    parser.add_argument("--epochs", type=int, default=None, help="most epochs per recipe (default: train.epochs)")
    parser.add_argument("--target", type=float, default=0.9, help="val mAP50 to reach")
    parser.add_argument("--image-size", type=int, default=None, help="default: train.image_size")
    parser.add_argument("--train-json", type=Path)
    parser.add_argument("--val-json", type=Path)
    parser.add_argument("--test-json", type=Path)
    parser.add_argument("--out", type=Path, default=Path("metrics/bench_time_to_map.json"))
    args = parser.parse_args()
    params = load_params()
    names = args.recipes.split(",")
    if unknown := sorted(set(names) - set(RECIPES)):
        parser.error(f"unknown recipes {unknown}; known: {', '.join(RECIPES)}")
    splits = Path("data/splits") / params["split"]["version"]
    paths = {
        "train": args.train_json or splits / "train.json",
        "val": args.val_json or splits / "val.json",
        "test": args.test_json or splits / "test.json",
    }
    if missing := [str(p) for p in paths.values() if not p.is_file()]:
        sys.exit(
            f"missing {', '.join(missing)}: run `dvc repro split` first, or pass --train-json/--val-json/--test-json"
        )

    base = params["train"]
    fixed = {
        "eval_every": 1,
        "early_stop_patience": 0,
        "resume": False,
        "run_on": "local",
        "init_from": None,
        "epochs": args.epochs or base["epochs"],
        "image_size": args.image_size or base["image_size"],
    }
    results: dict[str, Any] = {}
    for name in names:
        cfg = TrainConfig.from_params({**base, **RECIPES[name], **fixed})
        print(f"== {name}: {RECIPES[name] or 'params.yaml'}, up to {cfg.epochs} epochs at {cfg.image_size} px")
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = {"overrides": RECIPES[name], **run_recipe(cfg, args.target, paths, Path(tmp))}

    print(
        f"\n| recipe | val mAP50 >= {args.target} at epoch | train s to it | test mAP50 | test mAP50, >= 2 hands "
        f"| best val mAP50 | epochs run |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        epoch, seconds = (r["epoch"], f"{r['train_seconds']:.0f}") if r["reached"] else ("not reached", "-")
        print(
            f"| {name} | {epoch} | {seconds} | {r['test_map50']:.3f} | {r['test_map50_multi']:.3f} "
            f"({r['test_multi_images']} images) | {r['best_val_map50']:.3f} | {r['epochs_run']} |"
        )
    write_json(
        args.out,
        {
            "machine": machine_info(),
            "target_val_map50": args.target,
            "max_epochs": fixed["epochs"],
            "image_size": fixed["image_size"],
            "data": {k: str(v) for k, v in paths.items()},
            "recipes": results,
        },
    )


if __name__ == "__main__":
    main()
