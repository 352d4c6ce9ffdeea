"""Training throughput of the full pipeline (decode + albumentations + step) vs the bare step, side by side.

Two sources: the demo's synthetic 320x240 JPEGs at --image-size, and 640x640 JPEGs (the size exports deliver,
drawn by the same generator) at --export-size. On each, three loaders: as it was before it decoded at the input
size ("full decode": the whole JPEG, every step, then augmentation and letterbox), as it is now ("input-size
decode": JPEG draft + one resize) and with train.cache: ram. All are timed step by step in turn with the bare
step on one fixed batch, so drift on the machine hits every variant alike: compare ratios, not seconds.
Also evaluation time per 100 images. Prints a table and writes metrics/bench_train.json.
Usage: python bench/bench_train.py [--steps 16] [--image-size 192] [--export-size 256] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from effdet import DetBenchTrain
from PIL import Image
from torch.utils.data import DataLoader

from machine import machine_info
from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import image_path, read_coco
from rpsdet.data.split import write_splits
from rpsdet.data.synth import write_source
from rpsdet.evaluate.inference import predict_dataset
from rpsdet.files import write_json
from rpsdet.model.device import set_threads
from rpsdet.model.factory import build_effdet
from rpsdet.model.predict import Detector
from rpsdet.model.targets import to_effdet_targets
from rpsdet.train.dataset import DetectionDataset, collate
from rpsdet.train.loop import TrainConfig
from rpsdet.train.transforms import train_transform
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source


def make_data(root: Path, images: int, width: int = 320, height: int = 240) -> Path:
    for name, count in (("train", images), ("test", 100)):
        write_source(
            root / "raw" / name, prefix=name, count=count, multi_fraction=0.2, seed=11, width=width, height=height
        )
        validate_source(root / "raw" / name, root / "validated" / name, ValidateConfig())
    write_splits(root / "validated" / "train", root / "validated" / "test", root / "splits", 0.9, seed=0)
    return root / "splits"


class FullDecodeDataset(DetectionDataset):
    """The loader before this release, the baseline: every image decoded whole at every step."""

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rec = self.records[index]
        with Image.open(image_path(self.coco_path, rec)) as im:
            image = np.asarray(im.convert("RGB"))
        return image, np.asarray(rec.boxes, dtype=np.float32).reshape(-1, 4)


def step_fn(bench, optimizer, image_size):
    def step(images, boxes, labels):
        out = bench(images, to_effdet_targets(boxes, labels, image_size))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()

    return step


def time_step(batches: Iterator, step: Callable) -> tuple[float, float]:
    """Seconds for one step, and of them, loading its batch."""
    t0 = time.perf_counter()
    images, boxes, labels = next(batches)  # loading is inside the timed region for the pipeline
    t1 = time.perf_counter()
    step(images, boxes, labels)
    return time.perf_counter() - t0, t1 - t0


def measure_source(splits: Path, cfg: TrainConfig, steps: int) -> tuple[dict, torch.nn.Module]:
    """Seconds per step: the bare step and each loader, one step of each in turn."""
    transform = train_transform(cfg.image_size, cfg.scale_jitter, cfg.color_jitter)
    started = time.perf_counter()
    cached = DetectionDataset(splits / "train.json", transform, cfg.image_size, cache="ram")
    fill_s = time.perf_counter() - started
    datasets = {
        "full decode (before)": FullDecodeDataset(splits / "train.json", transform, cfg.image_size),
        "input-size decode (now)": DetectionDataset(splits / "train.json", transform, cfg.image_size),
        "input-size decode + cache ram": cached,
    }
    loaders = {
        name: DataLoader(
            ds,
            batch_size=cfg.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=collate,
            num_workers=cfg.loader_workers,
        )
        for name, ds in datasets.items()
    }
    model = build_effdet(cfg.arch, cfg.image_size, len(CLASS_NAMES), cfg.norm)
    step = step_fn(DetBenchTrain(model).train(), torch.optim.AdamW(model.parameters(), lr=1e-4), cfg.image_size)
    fixed = next(iter(loaders["input-size decode (now)"]))
    batches = {
        "bare step": itertools.repeat(fixed),  # epoch after epoch: a fresh pass over each loader
        **{name: itertools.chain.from_iterable(itertools.repeat(loader)) for name, loader in loaders.items()},
    }
    for _ in range(3):  # warm-up: first steps pay one-off costs
        time_step(batches["bare step"], step)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in batches}
    for _ in range(steps):
        for name, source in batches.items():
            times[name].append(time_step(source, step))
    bare = statistics.median(total for total, _ in times["bare step"])
    rows = {}
    for name, pairs in times.items():
        total = statistics.median(t for t, _ in pairs)
        rows[name] = {
            "s_per_step": round(total, 3),
            "images_per_s": round(cfg.batch_size / total, 2),
            "over_bare": round(bare / total, 3),
            "load_s_per_batch": round(statistics.median(load for _, load in pairs), 4),
        }
    return {
        "image_size": cfg.image_size,
        "train_images": len(cached),
        "cache_fill_s": round(fill_s, 2),
        "cache_mib": round(sum(image.nbytes for image, _ in cached.cache) / 2**20, 1),
        "loaders": rows,
    }, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=16, help="timed steps per variant")
    parser.add_argument("--image-size", type=int, default=192, help="training size on the 320x240 source")
    parser.add_argument("--export-size", type=int, default=256, help="training size on the 640x640 source")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = every core (train.threads)")
    parser.add_argument("--out", default="metrics/bench_train.json")
    args = parser.parse_args()
    threads = set_threads(args.threads)
    images = 8 * args.batch_size  # 90 % go to the train split: 7 batches an epoch
    sources = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, (width, height, size) in {
            "synthetic_320x240": (320, 240, args.image_size),
            "jpeg_640x640": (640, 640, args.export_size),
        }.items():
            splits = make_data(Path(tmp) / key, images, width, height)
            cfg = TrainConfig(image_size=size, batch_size=args.batch_size)
            sources[key], model = measure_source(splits, cfg, args.steps)
            if key == "synthetic_320x240":
                detector = Detector(model, cfg.image_size, list(CLASS_NAMES))
                predict_dataset(detector, splits / "test.json")  # warm-up (TorchScript profiling runs)
                n_test = len(read_coco(splits / "test.json"))
                t0 = time.perf_counter()
                predict_dataset(detector, splits / "test.json")
                eval_s_per_100 = (time.perf_counter() - t0) * 100 / n_test

    cfg = TrainConfig()
    result = {
        "machine": machine_info(),
        "arch": cfg.arch,
        "norm": cfg.norm,
        "batch_size": args.batch_size,
        "steps_each": args.steps,
        "threads": threads,
        "workers": cfg.loader_workers,
        "sources": sources,
        "eval_seconds_per_100_images": round(eval_s_per_100, 2),
    }
    print(
        f"{cfg.arch}, batch {args.batch_size}, {threads} threads, {result['steps_each']} steps each, "
        f"medians; the machine: {result['machine']}"
    )
    print("| source | px | loader | s/step | of which loading | images/s | vs bare step |")
    print("|---|---|---|---|---|---|---|")
    for key, source in sources.items():
        for name, row in source["loaders"].items():
            print(
                f"| {key} | {source['image_size']} | {name} | {row['s_per_step']} | {row['load_s_per_batch']} | "
                f"{row['images_per_s']} | {row['over_bare']} |"
            )
    for key, source in sources.items():
        print(
            f"{key}: train.cache ram holds {source['train_images']} images in {source['cache_mib']} MiB, "
            f"filled in {source['cache_fill_s']} s"
        )
    print(f"evaluation: {result['eval_seconds_per_100_images']} s per 100 images")
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
