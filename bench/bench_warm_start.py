"""The synthetic pretraining's gain at equal minutes: round 1 from random weights vs from models/pretrain/model.pt.

On the realistic Roboflow-style fixture (rpsdet.data.realistic, `rpsdet synth --style roboflow`): frames of short
phone videos, backgrounds, a train folder augmented 3x, test frames from the same videos as train frames. The
pipeline's own steps, called as its stages call them, in a temporary folder: import (`rpsdet import`), validate
train and test (params.yaml `validate:`, the test side checked against train for leakage), split (`split:`), then
two trainings with params.yaml's round-1 settings (`rounds.round1` over `train:`), one after the other, each with
the same budget (`train.max_minutes`, --minutes; or `train.epochs`, --epochs: equal steps, which a busy machine
cannot skew), seed and threads, differing only in where they start
(`train.pretrained: none`, and `synthetic` = --pretrain, as round 1 loads it). Each best-val checkpoint is then
scored on the validated test split by the evaluate stage's evaluation (pycocotools, full and leak-free views).

Both runs keep round 1's fine-tuning recipe (lr, warmup): the question is what the starting point alone buys.
Budgeted runs take as many steps as the machine allows, so "steps" differs between runs on a busy machine; the
load average before and after is recorded. Prints a table and writes metrics/bench_warm_start.json (--out).
Usage: python bench/bench_warm_start.py [--frames 400] [--minutes 4 | --epochs 3] [--threads 2] [--pretrain PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402
from rpsdet.data.importer import import_export  # noqa: E402
from rpsdet.data.realistic import write_roboflow_export  # noqa: E402
from rpsdet.data.split import write_splits  # noqa: E402
from rpsdet.evaluate.report import EvalOutputs, evaluate_checkpoint  # noqa: E402
from rpsdet.files import write_json  # noqa: E402
from rpsdet.model.checkpoint import read_checkpoint  # noqa: E402
from rpsdet.model.device import set_threads  # noqa: E402
from rpsdet.model.pretrained import SYNTHETIC_CHECKPOINT  # noqa: E402
from rpsdet.params import load_params  # noqa: E402
from rpsdet.rounds import round_train_params  # noqa: E402
from rpsdet.train.job import checked_config  # noqa: E402
from rpsdet.train.loop import TrainConfig, train  # noqa: E402
from rpsdet.validate.config import ValidateConfig  # noqa: E402
from rpsdet.validate.report import summary_table  # noqa: E402
from rpsdet.validate.run import validate_source  # noqa: E402

STARTS = ("none", "synthetic")
VALIDATION_KEYS = (
    "input_images",
    "kept_images",
    "quarantined_images",
    "background_images",
    "near_duplicate_images",
    "leakage_images",
)


def prepare_data(root: Path, params: dict[str, Any], frames: int, seed: int) -> dict[str, Any]:
    """Draw the fixture, import it, validate both sides and split, as `rpsdet import` and the stages do."""
    fixture = write_roboflow_export(root / "export", frames=frames, seed=seed)
    source = root / "imports" / "bench"
    plan, _ = import_export(root / "export", source)
    validation = {}
    for side in ("train", "test"):
        cfg = ValidateConfig.from_params(params, reference=source / "train" if side != "train" else None)
        summary = validate_source(source / side, root / "validated" / side, cfg, side)
        print(summary_table(summary))
        validation[side] = {k: summary[k] for k in VALIDATION_KEYS if k in summary}
    split = params["split"]
    counts = write_splits(
        root / "validated" / "train",
        root / "validated" / "test",
        root / "splits" / split["version"],
        split["train_ratio"],
        split["seed"],
    )
    print(f"split {split['version']}: {counts}")
    return {"fixture": fixture, "import_split_by": plan.split_by, "validation": validation, "split": counts}


def start_config(
    params: dict[str, Any], start: str, pretrain: Path, budget: dict[str, Any], threads: int
) -> TrainConfig:
    """Round 1's training settings with only the starting point, the budget (`max_minutes` or `epochs`) and the
    threads changed. `synthetic` loads --pretrain as init_from, as a Ray worker gets it (TrainJob.absolute)."""
    overrides = {
        "pretrained": start,
        "init_from": str(pretrain.resolve()) if start == "synthetic" else None,
        **budget,
        "threads": threads,
        "run_on": "local",
        "resume": False,
    }
    return checked_config({**round_train_params(params, "round1"), **overrides}, f"bench_warm_start ({start})")


def run_start(cfg: TrainConfig, splits: Path, workdir: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Train on the split within the budget, then score the best-val checkpoint on test as the evaluate stage does."""
    checkpoint = workdir / "model.pt"
    summary = train(cfg, splits / "train.json", splits / "val.json", checkpoint)
    outputs = EvalOutputs(workdir / "eval", workdir / "eval.json", workdir / "slices.json", workdir / "plots")
    eval_cfg = {**params["evaluate"], "gallery": False}
    metrics = evaluate_checkpoint(
        checkpoint, splits / "test.json", outputs, cfg=eval_cfg, threads=summary["threads"], device=summary["device"]
    )
    leak_free = metrics["leak_free"]
    return {
        "steps": summary["steps"],
        "epochs_run": summary["epochs_run"],
        "train_seconds": summary["train_seconds"],
        "seconds": summary["seconds"],
        "images_per_s": summary["images_per_s"],
        "best_val_map50": summary["best_val_map50"],
        "best_val_map": summary["best_val_map"],
        "best_epoch": summary["best_epoch"],
        "test_images": metrics["images"],
        "test_map50": metrics["map50"],
        "test_map": metrics["map"],
        "test_leaked_images": metrics["leaked_images"],
        "leak_free_images": leak_free["images"],
        "leak_free_map50": leak_free["map50"] if leak_free["images"] else None,
        "leak_free_map": leak_free["map"] if leak_free["images"] else None,
    }


def pretrain_info(path: Path) -> dict[str, Any]:
    """What the starting checkpoint is: its data version, epoch and val mAP50 at save time."""
    ckpt = read_checkpoint(path)
    return {
        "path": str(path),
        "data_version": ckpt["config"].get("data_version"),
        "epoch": ckpt.get("epoch"),
        "val_map50": (ckpt.get("val_metrics") or {}).get("map50"),
    }


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frames",
        type=int,
        default=400,
        help="source frames of the fixture: train ones written 3x, 10 %% go to test (400: ~40)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the fixture's seed (training uses train.seed)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=4.0, help="train.max_minutes of each run")
    budget.add_argument(
        "--epochs",
        type=int,
        help="train.epochs of each run instead: equal steps, so a busy machine cannot give one run more of them "
        "(a step costs the same from either start)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both runs")
    parser.add_argument("--pretrain", type=Path, default=SYNTHETIC_CHECKPOINT, help="the synthetic pretraining")
    parser.add_argument("--out", type=Path, default=Path("metrics/bench_warm_start.json"))
    args = parser.parse_args()
    if not args.pretrain.is_file():
        sys.exit(f"{args.pretrain} not found: run `dvc repro pretrain` first (or pass --pretrain PATH)")
    if (args.epochs is not None and args.epochs <= 0) or args.minutes <= 0:
        parser.error("--minutes and --epochs must be > 0")
    budget = {"max_minutes": None, "epochs": args.epochs} if args.epochs else {"max_minutes": args.minutes}
    label = f"{args.epochs} epochs" if args.epochs else f"{args.minutes:g} training minutes"
    params = load_params()
    configs = {start: start_config(params, start, args.pretrain, budget, args.threads) for start in STARTS}
    threads = set_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rpsdet-warm-start-") as tmp:
        root = Path(tmp)
        data = prepare_data(root, params, args.frames, args.seed)
        data["seconds"] = round(time.perf_counter() - started, 1)
        splits = root / "splits" / params["split"]["version"]
        for start, cfg in configs.items():
            print(f"== train.pretrained: {start}, {label}, {threads} threads")
            results[start] = run_start(cfg, splits, root / start, params)
    load_after = os.getloadavg()

    cfg = configs["none"]
    print(
        f"\n{args.frames} fixture frames; round-1 recipe ({cfg.arch}, {cfg.image_size} px, batch {cfg.batch_size}, "
        f"lr {cfg.lr:g}, warmup {cfg.warmup_steps} steps), {label} each, {threads} threads"
    )
    print("| start | steps | train s | wall s | test mAP50 | test mAP | leak-free mAP50 |")
    print("|---|---|---|---|---|---|---|")
    for start, r in results.items():
        print(
            f"| {start} | {r['steps']} | {r['train_seconds']:.0f} | {r['seconds']:.0f} | {r['test_map50']:.3f} | "
            f"{r['test_map']:.3f} | {fmt(r['leak_free_map50'])} ({r['leak_free_images']} of {r['test_images']} "
            "images) |"
        )
    print(
        f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f} on {machine_info()['cores']} "
        f"cores; data {data['seconds']:.0f} s, whole run {time.perf_counter() - started:.0f} s"
    )
    shared = {k: v for k, v in vars(cfg).items() if k not in ("pretrained", "init_from")}
    write_json(
        args.out,
        {
            "machine": machine_info(),
            "threads": threads,
            "frames": args.frames,
            "fixture_seed": args.seed,
            "max_minutes": None if args.epochs else args.minutes,
            "epochs": args.epochs,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "pretrain": pretrain_info(args.pretrain),
            "train": shared,
            "data": data,
            "starts": results,
        },
    )


if __name__ == "__main__":
    main()
