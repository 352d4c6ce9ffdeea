"""What the synthetic pretraining costs `make demo`: drawing its set, and training steps, beside the demo's own.

Side by side in one run: CPU ms per drawn image (the demo's SceneStyle vs params.yaml's pretrain style), CPU ms per
validated image, and CPU seconds per training step (decode + augment + step, params.yaml `train:`) on each set,
alternated so drift on the machine hits both alike. CPU time, not wall time, because on a shared machine wall time
measures the neighbours (two torch threads among a dozen busy processes ran 10-20x slower per step than one thread);
one thread by default for the same reason. The stage costs for params.yaml's sizes are then estimated from a quiet
reference: the demo's recorded round 1 (1,620 steps in 8 min 15 s, evaluations included: README), scaled by the
measured pretrain / demo step ratio; drawing is single-threaded, validation uses every core.
Prints a table and writes metrics/bench_pretrain.json (with the load average before and after).
Usage: python bench/bench_pretrain.py [--images 64] [--steps 12] [--threads 1]
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from effdet import DetBenchTrain
from torch.utils.data import DataLoader

from bench_train import step_fn
from machine import machine_info
from rpsdet.classes import CLASS_NAMES
from rpsdet.data.synth import SceneStyle, write_source
from rpsdet.files import write_json
from rpsdet.model.device import set_threads
from rpsdet.model.factory import build_effdet
from rpsdet.params import deep_merge, load_params
from rpsdet.rounds import round_train_params
from rpsdet.train.dataset import DetectionDataset, collate
from rpsdet.train.loop import TrainConfig
from rpsdet.train.transforms import train_transform
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source

# The demo's round 1 before the pretrain stage: 36 epochs from scratch on the split's train set, 1,620 steps in
# 8 min 15 s on a quiet 2-core machine (README, make demo table): seconds per step, evaluations included.
SCRATCH_ROUND1_EPOCHS = 36
REFERENCE_S_PER_STEP = 495 / 1620


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) and of its finished children (validation workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall s, CPU s) of fn()."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def draw_and_validate(root: Path, name: str, count: int, style: SceneStyle, synth: dict) -> dict[str, float]:
    raw = root / "raw" / name
    draw = timed(
        lambda: write_source(
            raw,
            prefix=name,
            count=count,
            multi_fraction=0.1,
            seed=synth["seed"],
            width=synth["width"],
            height=synth["height"],
            max_hands=synth["max_hands"],
            style=style,
        )
    )
    check = timed(lambda: validate_source(raw, root / "validated" / name, ValidateConfig()))
    return {
        "draw_ms_per_image": 1000 * draw[0] / count,
        "draw_cpu_ms_per_image": 1000 * draw[1] / count,
        "validate_ms_per_image": 1000 * check[0] / count,
        "validate_cpu_ms_per_image": 1000 * check[1] / count,
    }


def step_times(loader: DataLoader, step, n: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    batches = itertools.cycle(loader)
    for _ in range(n):
        wall, cpu = timed(lambda: step(*next(batches)))
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images drawn per style")
    parser.add_argument("--steps", type=int, default=12, help="training steps timed per set")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the timed steps")
    parser.add_argument("--out", default="metrics/bench_pretrain.json")
    args = parser.parse_args()
    params = load_params()
    pre = params["pretrain"]
    cfg = TrainConfig.from_params(params["train"])
    threads = set_threads(args.threads)
    load_before = os.getloadavg()
    styles = {"demo": SceneStyle(), "pretrain": SceneStyle.from_params(pre["synth"].get("style"))}
    sets: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, style in styles.items():
            sets[name] = draw_and_validate(Path(tmp), name, args.images, style, pre["synth"])
        model = build_effdet(cfg.arch, cfg.image_size, len(CLASS_NAMES), cfg.norm)
        step = step_fn(DetBenchTrain(model).train(), torch.optim.AdamW(model.parameters(), lr=1e-4), cfg.image_size)
        loaders = {
            name: DataLoader(
                DetectionDataset(
                    Path(tmp) / "validated" / name / "annotations.json",
                    train_transform(cfg.image_size, cfg.scale_jitter, cfg.color_jitter),
                ),
                batch_size=cfg.batch_size,
                shuffle=True,
                drop_last=True,
                collate_fn=collate,
            )
            for name in styles
        }
        step_times(loaders["demo"], step, 2)  # warm-up: first steps pay one-off costs
        walls = {name: [] for name in styles}
        cpus = {name: [] for name in styles}
        for _ in range(max(1, args.steps // 3)):  # alternate short rounds
            for name in styles:
                w, c = step_times(loaders[name], step, 3)
                walls[name] += w
                cpus[name] += c
    load_after = os.getloadavg()
    for name in styles:
        sets[name]["s_per_step"] = statistics.median(walls[name])
        sets[name]["cpu_s_per_step"] = statistics.median(cpus[name])

    pretrain_cfg = deep_merge(params["train"], pre["train"])
    round1 = round_train_params(params, "round1")
    per_epoch_pretrain = pre["synth"]["train"]["count"] // pretrain_cfg["batch_size"]
    demo_train_images = round(params["synth"]["sources"]["train"]["count"] * params["split"]["train_ratio"])
    per_epoch_round1 = demo_train_images // round1["batch_size"]
    steps = {
        "pretrain": pretrain_cfg["epochs"] * per_epoch_pretrain,
        "round1": round1["epochs"] * per_epoch_round1,
        "round1_from_scratch": SCRATCH_ROUND1_EPOCHS * per_epoch_round1,
    }
    images = pre["synth"]["train"]["count"] + pre["synth"]["val"]["count"]
    p, cores = sets["pretrain"], machine_info()["cores"]
    step_ratio = p["cpu_s_per_step"] / sets["demo"]["cpu_s_per_step"]
    estimate = {
        "pretrain_data_s": images * (p["draw_cpu_ms_per_image"] + p["validate_cpu_ms_per_image"] / cores) / 1000,
        "pretrain_s": steps["pretrain"] * REFERENCE_S_PER_STEP * step_ratio,
        "round1_s": steps["round1"] * REFERENCE_S_PER_STEP,
        "round1_from_scratch_s": steps["round1_from_scratch"] * REFERENCE_S_PER_STEP,
    }
    estimate["demo_change_s"] = (
        estimate["pretrain_data_s"] + estimate["pretrain_s"] + estimate["round1_s"] - estimate["round1_from_scratch_s"]
    )
    print(
        f"| per unit ({cfg.arch}, {cfg.image_size} px, batch {cfg.batch_size}, {threads} threads) | demo style | "
        f"pretrain style |"
    )
    print("|---|---|---|")
    for key in (
        "draw_ms_per_image",
        "draw_cpu_ms_per_image",
        "validate_ms_per_image",
        "validate_cpu_ms_per_image",
        "s_per_step",
        "cpu_s_per_step",
    ):
        print(f"| {key} | {sets['demo'][key]:.3f} | {sets['pretrain'][key]:.3f} |")
    print(f"\npretrain / demo CPU per step: {step_ratio:.3f}; steps: {steps}")
    print(f"| estimated stage cost, quiet {cores}-core machine | s |\n|---|---|")
    for key, value in estimate.items():
        print(f"| {key} | {value:.0f} |")
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f} on {cores} cores")
    write_json(
        Path(args.out),
        {
            "machine": machine_info(),
            "threads": threads,
            "images_per_style": args.images,
            "steps_per_set": len(walls["demo"]),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "per_unit": sets,
            "step_ratio": step_ratio,
            "reference_s_per_step": REFERENCE_S_PER_STEP,
            "steps": steps,
            "estimate_s": {k: round(v, 1) for k, v in estimate.items()},
        },
    )


if __name__ == "__main__":
    main()
