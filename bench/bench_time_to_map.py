"""Time to val mAP50 >= target per training recipe, or test mAP at a fixed training budget (--budget-minutes).

Each recipe is params.yaml's `train:` settings (the from-scratch recipe: round 1 itself now fine-tunes the synthetic
pretraining) plus a few overrides (RECIPES). It trains from scratch on
the split's train set with the library's loop, evaluates on val after every epoch and stops at the first epoch whose
val mAP50 reaches --target (or after --epochs). The time reported is training only (steps + data loading; the
loop's `train_seconds`), evaluation excluded. The checkpoint the loop ships at that point (best val mAP so far) is
then scored on the test split, overall and on images with at least two hands, where the train source is weakest.
The lr schedule spans --epochs whether or not a recipe stops early: compare recipes at the same --epochs.

With --budget-minutes every recipe trains for that much training time instead (train.max_minutes: the cosine
follows the clock, so each recipe ends at the lr floor whatever its step cost) and no target stops it: the
accuracy-per-training-minute comparison. A time budget is only fair on an otherwise idle machine.

Needs the split files: `dvc repro split` writes data/splits/<split.version>/{train,val,test}.json, or pass
--train-json/--val-json/--test-json. Prints a table and writes metrics/bench_time_to_map.json
(metrics/bench_time_to_map_budget.json with --budget-minutes).
Usage: python bench/bench_time_to_map.py [--recipes baseline,mosaic] [--epochs 36] [--target 0.9] [--image-size 192]
       python bench/bench_time_to_map.py --budget-minutes 12.12 --recipes lr_3e-3,lr_6e-3,progressive+cache_ram
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
    "cache_ram": {"cache": "ram"},
    "lr_3e-3": {"lr": 0.003},  # params.yaml's train.lr before the budget comparison
    "lr_6e-3": {"lr": 0.006},
    "batch16": {"batch_size": 16, "lr": 0.0042},  # 0.003 by the square root of the batch ratio
    # Progressive size (train.progressive_size): the first 40 % of the run at 128 px, then the full size, in one run
    # (optimizer, schedule and EMA carry on). A 128-px step moves 0.44x the pixels of a 192-px one.
    "progressive": {"progressive_size": 128, "progressive_fraction": 0.4},
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


def run_recipe(cfg: TrainConfig, target: float | None, paths: dict[str, Path], workdir: Path) -> dict[str, Any]:
    """Train one recipe, logging val mAP per evaluation; score the checkpoint it ships on test."""
    curve: list[dict[str, float]] = []

    def reached(epoch: int, stats: dict[str, float]) -> bool:
        if "val/map50" not in stats:  # an epoch without evaluation (eval_every > 1)
            return False
        curve.append(
            {
                "epoch": epoch,
                "train_seconds": round(stats["train_seconds"], 2),
                "val_map50": stats["val/map50"],
                "val_map": stats["val/map"],
            }
        )
        return target is not None and stats["val/map50"] >= target

    checkpoint = workdir / "model.pt"
    summary = train(cfg, paths["train"], paths["val"], checkpoint, stop_when=reached)
    hit = next((row for row in curve if target is not None and row["val_map50"] >= target), None)
    return {
        "reached": hit is not None,
        "epoch": hit and hit["epoch"],
        "train_seconds": hit and hit["train_seconds"],
        "epochs_run": summary["epochs_run"],
        "steps_run": summary["steps"],
        "train_seconds_run": summary["train_seconds"],
        "best_val_map50": max(row["val_map50"] for row in curve),
        "images_per_s": round(summary["steps"] * cfg.batch_size / summary["train_seconds"], 2),
        **test_scores(checkpoint, paths["test"], summary["device"]),
        "curve": curve,
    }


def recipe_config(base: dict[str, Any], overrides: dict[str, Any], fixed: dict[str, Any]) -> TrainConfig:
    """params.yaml's train settings + a recipe's overrides + the bench's fixed settings."""
    return TrainConfig.from_params({**base, **overrides, **fixed})


def overrides_of(name: str) -> dict[str, Any]:
    """A recipe's overrides; `a+b` is recipes a and b together (b wins where both set a key)."""
    merged: dict[str, Any] = {}
    for part in name.split("+"):
        merged.update(RECIPES[part])
    return merged


def print_table(results: dict[str, Any], target: float | None) -> None:
    if target is None:
        print("\n| recipe | test mAP50 | test mAP | test mAP50, >= 2 hands | steps | images/s | best val mAP50 |")
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            print(
                f"| {name} | {r['test_map50']:.3f} | {r['test_map']:.3f} | {r['test_map50_multi']:.3f} "
                f"| {r['steps_run']} | {r['images_per_s']:.1f} | {r['best_val_map50']:.3f} |"
            )
        return
    print(
        f"\n| recipe | val mAP50 >= {target} at epoch | train s to it | test mAP50 | test mAP50, >= 2 hands "
        f"| best val mAP50 | epochs run |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        epoch, seconds = (r["epoch"], f"{r['train_seconds']:.0f}") if r["reached"] else ("not reached", "-")
        print(
            f"| {name} | {epoch} | {seconds} | {r['test_map50']:.3f} | {r['test_map50_multi']:.3f} "
            f"({r['test_multi_images']} images) | {r['best_val_map50']:.3f} | {r['epochs_run']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recipes", default="baseline,mosaic", help=f"comma-separated, of: {', '.join(RECIPES)}; a+b = together"
    )
    parser.add_argument("--epochs", type=int, default=None, help="most epochs per recipe (default: train.epochs)")
    parser.add_argument("--target", type=float, default=0.9, help="val mAP50 to reach")
    parser.add_argument("--budget-minutes", type=float, help="train each recipe this long instead (no --target)")
    parser.add_argument("--eval-every", type=int, default=4, help="with --budget-minutes: epochs between val evals")
    parser.add_argument("--image-size", type=int, default=None, help="default: train.image_size")
    parser.add_argument("--train-json", type=Path)
    parser.add_argument("--val-json", type=Path)
    parser.add_argument("--test-json", type=Path)
    parser.add_argument("--out", type=Path, help="default: metrics/bench_time_to_map[_budget].json")
    args = parser.parse_args()
    out = args.out or Path(f"metrics/bench_time_to_map{'_budget' if args.budget_minutes else ''}.json")
    params = load_params()
    names = args.recipes.split(",")
    if unknown := sorted({part for name in names for part in name.split("+")} - set(RECIPES)):
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
    target = None if args.budget_minutes else args.target
    fixed = {
        "eval_every": args.eval_every if args.budget_minutes else 1,
        "early_stop_patience": 0,
        "resume": False,
        "run_on": "local",
        "init_from": None,
        "pretrained": "none",
        "max_minutes": args.budget_minutes,
        "epochs": args.epochs or base["epochs"],
        "image_size": args.image_size or base["image_size"],
    }
    setup = {
        "machine": machine_info(),
        **({"budget_minutes": args.budget_minutes} if target is None else {"target_val_map50": target}),
        "max_epochs": fixed["epochs"],
        "image_size": fixed["image_size"],
        "data": {k: str(v) for k, v in paths.items()},
    }
    results: dict[str, Any] = {}
    for name in names:
        overrides = overrides_of(name)
        cfg = recipe_config(base, overrides, fixed)
        limit = f"{args.budget_minutes:g} min" if target is None else f"up to {cfg.epochs} epochs"
        print(f"== {name}: {overrides or 'params.yaml'}, {limit} at {cfg.image_size} px", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            results[name] = {"overrides": overrides, **run_recipe(cfg, target, paths, Path(tmp))}
        write_json(out, {**setup, "recipes": results})  # after each recipe: a long run keeps what it has
    print_table(results, target)


if __name__ == "__main__":
    main()
