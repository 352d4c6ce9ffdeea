"""Training throughput of the full pipeline (decode + albumentations + step) vs the bare step, side by side.

Also evaluation time per 100 images. Prints a table and writes metrics/bench_train.json.
Usage: python bench/bench_train.py [--steps 20] [--image-size 192] [--batch-size 8]
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from effdet import DetBenchTrain
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

from rpsdet.classes import CLASS_NAMES  # noqa: E402
from rpsdet.data.coco import read_coco  # noqa: E402
from rpsdet.data.split import write_splits  # noqa: E402
from rpsdet.data.synth import write_source  # noqa: E402
from rpsdet.evaluate.run import predict_dataset  # noqa: E402
from rpsdet.files import write_json  # noqa: E402
from rpsdet.model.device import set_threads  # noqa: E402
from rpsdet.model.factory import build_effdet  # noqa: E402
from rpsdet.model.predict import Detector  # noqa: E402
from rpsdet.model.targets import to_effdet_targets  # noqa: E402
from rpsdet.train.dataset import DetectionDataset, collate, train_transform  # noqa: E402
from rpsdet.train.loop import TrainConfig  # noqa: E402
from rpsdet.validate.voc_source import validate_voc_source  # noqa: E402


def make_data(root: Path, images: int) -> Path:
    for name, count in (("train", images), ("test", 100)):
        write_source(root / "raw" / name, prefix=name, count=count, multi_fraction=0.2, seed=11)
        validate_voc_source(root / "raw" / name, root / "validated" / name)
    write_splits(root / "validated" / "train", root / "validated" / "test", root / "splits", 0.9, seed=0)
    return root / "splits"


def step_fn(bench, optimizer, image_size):
    def step(images, boxes, labels):
        out = bench(images, to_effdet_targets(boxes, labels, image_size))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
    return step


def time_steps(batches, step, n: int) -> list[float]:
    times = []
    it = iter(batches)
    for _ in range(n):
        t0 = time.perf_counter()
        images, boxes, labels = next(it)  # loading is inside the timed region for the pipeline
        step(images, boxes, labels)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="metrics/bench_train.json")
    args = parser.parse_args()
    cfg = TrainConfig(image_size=args.image_size, batch_size=args.batch_size)
    threads = set_threads(cfg.threads)
    with tempfile.TemporaryDirectory() as tmp:
        splits = make_data(Path(tmp), images=args.batch_size * (args.steps + 4))
        dataset = DetectionDataset(splits / "train.json", train_transform(cfg.image_size, cfg.scale_jitter,
                                                                          cfg.color_jitter))
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=True, collate_fn=collate,
                            num_workers=cfg.workers)
        model = build_effdet(cfg.arch, cfg.image_size, len(CLASS_NAMES), cfg.norm)
        bench = DetBenchTrain(model).train()
        step = step_fn(bench, torch.optim.AdamW(model.parameters(), lr=1e-4), cfg.image_size)
        fixed = next(iter(loader))
        time_steps(itertools.repeat(fixed), step, 3)  # warm-up: first steps pay one-off costs
        # Alternate short rounds of each so drift on the machine hits both sides alike.
        bare, pipeline = [], []
        rounds = 4
        for _ in range(rounds):
            bare += time_steps(itertools.repeat(fixed), step, args.steps // rounds)
            pipeline += time_steps(itertools.cycle(loader), step, args.steps // rounds)
        detector = Detector(model, cfg.image_size, list(CLASS_NAMES))
        predict_dataset(detector, splits / "test.json")  # warm-up (TorchScript profiling runs)
        n_test = len(read_coco(splits / "test.json"))
        t0 = time.perf_counter()
        predict_dataset(detector, splits / "test.json")
        eval_s_per_100 = (time.perf_counter() - t0) * 100 / n_test

    bare_ips = cfg.batch_size / statistics.median(bare)
    pipe_ips = cfg.batch_size / statistics.median(pipeline)
    result = {
        "machine": machine_info(), "arch": cfg.arch, "norm": cfg.norm, "image_size": cfg.image_size,
        "batch_size": cfg.batch_size, "steps_each": len(bare), "threads": threads, "workers": cfg.workers,
        "bare_step_images_per_s": round(bare_ips, 2), "pipeline_images_per_s": round(pipe_ips, 2),
        "pipeline_over_bare": round(pipe_ips / bare_ips, 3),
        "bare_s_per_step": round(statistics.median(bare), 3), "pipeline_s_per_step": round(statistics.median(pipeline), 3),
        "eval_seconds_per_100_images": round(eval_s_per_100, 2),
    }
    print(f"| measure ({cfg.arch}, {cfg.image_size} px, batch {cfg.batch_size}, {threads} threads) | value |")
    print("|---|---|")
    for key in ("bare_step_images_per_s", "pipeline_images_per_s", "pipeline_over_bare", "bare_s_per_step",
                "pipeline_s_per_step", "eval_seconds_per_100_images"):
        print(f"| {key} | {result[key]} |")
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
