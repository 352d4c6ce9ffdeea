"""EfficientDet-D0 speed on CPU: where the time goes, the FLOP floor, inference backends and training variants.

Every comparison is interleaved (round-robin over the variants, medians), so machine drift hits all alike.
Prints tables and writes metrics/bench_speed.json.
Usage: python bench/bench_speed.py [--sizes 256 512] [--no-compile] [--sections floor profile inference training]
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
from torch.utils.data import DataLoader

from bench_train import make_data
from machine import machine_info
from rpsdet.classes import CLASS_NAMES
from rpsdet.files import write_json
from rpsdet.model.device import set_threads
from rpsdet.model.factory import build_effdet
from rpsdet.model.predict import Detector
from rpsdet.train.dataset import DetectionDataset, collate
from rpsdet.train.transforms import train_transform
from speed_profile import breakdown, count_flops, dense_rate_gflops
from speed_variants import inference_detectors, train_step, workdir

TRAIN_SIZE, TRAIN_BATCH = 256, 8
MIN_SCORE = 0.05  # serve.min_score: what a served request runs with (evaluation uses 0.001)


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int, per_round: int = 1
) -> dict[str, tuple[float, float]]:
    """(median, best) seconds per call of each variant, timed round-robin. On a shared 2-core machine a process
    that loses a core mid-op stalls in OpenMP barriers, so `best` is the fairer estimate of a variant's own speed."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            for _ in range(per_round):
                started = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - started)
    return {name: (statistics.median(t), min(t)) for name, t in times.items()}


def camera_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """640x480 RGB frames: what a phone sends after the serve layer's resize (letterboxing is part of the cost)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(count)]


def floor_section(threads: int, sizes: list[int]) -> dict:
    rates = dense_rate_gflops(threads)
    best = max(rates.values())
    out = {"dense_gflops": rates, "per_size": {}}
    for size in sizes:
        model = build_effdet("efficientdet_d0", size, len(CLASS_NAMES), "group")
        x = torch.randn(1, 3, size, size)
        with torch.inference_mode():
            infer = count_flops(lambda m=model, x=x: m.eval()(x))
        # backward ~ 2x forward. Not counted directly: FlopCounterMode's convolution_backward ignores `groups`
        # (torch 2.14), so it counts depthwise backward convs 64-1000x too high.
        train = 3 * infer * TRAIN_BATCH
        out["per_size"][size] = {
            "infer_gflops_per_image": round(infer / 1e9, 3),
            "train_gflops_per_step": round(train / 1e9, 2),
            "infer_floor_ms_per_image": round(infer / best / 1e6, 2),
            "train_floor_s_per_step": round(train / best / 1e9, 3),
        }
    return out


def profile_section(sizes: list[int], images: list[np.ndarray], threads: int) -> dict:
    """One thread: the shares stay representative, and a busy machine cannot add OpenMP barrier stalls to them."""
    torch.set_num_threads(1)
    out = {}
    for size in sizes:
        iters = 6 if size <= 256 else 2
        detector = Detector(build_effdet("efficientdet_d0", size, len(CLASS_NAMES), "group"), size, list(CLASS_NAMES))
        detector.predict(images[:1], MIN_SCORE)
        step = train_step(size)
        batch = torch.randn(TRAIN_BATCH, 3, size, size)
        boxes = [torch.tensor([[10.0, 10.0, size / 2, size / 2], [size / 3, size / 4, size - 5, size - 9]])] * 8
        labels = [torch.tensor([0, 2])] * TRAIN_BATCH
        step(batch, boxes, labels)
        infer = breakdown(lambda d=detector: d.predict(images[:1], MIN_SCORE), iters)
        train = breakdown(lambda s=step, b=batch, x=boxes, y=labels: s(b, x, y), max(1, iters // 2))
        out[size] = {"infer_torch_eager_bs1_ms": infer, "train_step_bs8_ms": train}
    torch.set_num_threads(threads)
    return out


def inference_section(sizes: list[int], threads: int, images: list[np.ndarray], compile_: bool) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            torch.manual_seed(0)
            model = build_effdet("efficientdet_d0", size, len(CLASS_NAMES), "group").eval()
            detectors = inference_detectors(model, size, threads, Path(tmp), compile_ and size == TRAIN_SIZE)
            out[size] = {}
            for bs in (1, 4):
                batch = images[:bs]
                warm = {}
                for name, (det, _) in detectors.items():  # first calls pay profiling / compilation
                    started = time.perf_counter()
                    det.predict(batch, MIN_SCORE)
                    warm[name] = time.perf_counter() - started
                    det.predict(batch, MIN_SCORE)
                fns = {name: (lambda d=det, b=batch: d.predict(b, MIN_SCORE)) for name, (det, _) in detectors.items()}
                medians = interleaved(fns, rounds=10 if size <= 256 else 4)
                base = medians["torch eager"][1]
                out[size][f"bs{bs}"] = {
                    name: {
                        "ms_per_image": round(1000 * best / bs, 2),
                        "median_ms_per_image": round(1000 * m / bs, 2),
                        "speedup_vs_eager": round(base / best, 2),
                        "build_s": round(detectors[name][1], 2),
                        "first_call_s": round(warm[name], 2),
                    }
                    for name, (m, best) in medians.items()
                }
    return out


def loader_batches(splits: Path, workers: int) -> Iterator:
    dataset = DetectionDataset(splits / "train.json", train_transform(TRAIN_SIZE, 0.25, 0.3), TRAIN_SIZE)
    loader = DataLoader(
        dataset,
        batch_size=TRAIN_BATCH,
        shuffle=True,
        drop_last=True,
        collate_fn=collate,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    return itertools.chain.from_iterable(itertools.repeat(loader))


def training_section(threads: int, compile_: bool, rounds: int) -> dict:
    splits = make_data(workdir(), images=TRAIN_BATCH * 12)
    fixed = next(loader_batches(splits, 0))
    variants: dict[str, tuple[Callable, Iterator, int]] = {
        "eager, GroupNorm (baseline)": (train_step(TRAIN_SIZE), itertools.repeat(fixed), threads),
        "eager, 1 thread": (train_step(TRAIN_SIZE), itertools.repeat(fixed), 1),
        "channels_last": (train_step(TRAIN_SIZE, channels_last=True), itertools.repeat(fixed), threads),
        "BatchNorm instead of GroupNorm": (train_step(TRAIN_SIZE, norm="batch"), itertools.repeat(fixed), threads),
        "full data pipeline, workers 0": (train_step(TRAIN_SIZE), loader_batches(splits, 0), threads),
        "full data pipeline, workers 1": (train_step(TRAIN_SIZE), loader_batches(splits, 1), threads),
    }
    if compile_:
        variants["torch.compile (inductor)"] = (train_step(TRAIN_SIZE, compile_=True), itertools.repeat(fixed), threads)
    first_loss, warm_s = {}, {}
    for name, (step, batches, n) in variants.items():  # same seed: the first step's loss must agree
        torch.set_num_threads(n)
        torch.manual_seed(1)  # drop-path draws random numbers: the same draws for every variant
        started = time.perf_counter()
        first_loss[name] = float(step(*next(batches)))
        warm_s[name] = time.perf_counter() - started
        step(*next(batches))

    def call(step, batches, n):
        torch.set_num_threads(n)
        step(*next(batches))

    fns = {name: (lambda v=v: call(*v)) for name, v in variants.items()}
    medians = interleaved(fns, rounds=rounds, per_round=2)
    torch.set_num_threads(threads)
    base = medians["eager, GroupNorm (baseline)"][1]
    return {
        name: {
            "s_per_step": round(best, 3),
            "median_s_per_step": round(m, 3),
            "images_per_s": round(TRAIN_BATCH / best, 1),
            "speedup_vs_baseline": round(base / best, 2),
            "first_step_s": round(warm_s[name], 1),
            "first_loss": round(first_loss[name], 4),
        }
        for name, (m, best) in medians.items()
    }


def print_tables(result: dict) -> None:
    print("\n| size | inference GFLOPs/img | floor ms/img | train GFLOPs/step (bs 8) | floor s/step |")
    print("|---|---|---|---|---|")
    for size, f in result.get("floor", {}).get("per_size", {}).items():
        print(
            f"| {size} | {f['infer_gflops_per_image']} | {f['infer_floor_ms_per_image']} | "
            f"{f['train_gflops_per_step']} | {f['train_floor_s_per_step']} |"
        )
    print(f"dense rate (GFLOP/s): {result.get('floor', {}).get('dense_gflops')}")
    for size, parts in result.get("profile", {}).items():
        for what, table in parts.items():
            print(f"\n{what} @ {size} px (ms, 1 thread, self CPU time by kind of work)")
            for kind, ms in table.items():
                print(f"  {kind:42s} {ms:9.2f}")
    print("\n| px | batch | backend | ms/img best | ms/img median | vs eager | build s | first call s |")
    print("|---|---|---|---|---|---|---|---|")
    for size, by_bs in result.get("inference", {}).items():
        for bs, rows in by_bs.items():
            for name, r in rows.items():
                print(
                    f"| {size} | {bs[2:]} | {name} | {r['ms_per_image']} | {r['median_ms_per_image']} | "
                    f"{r['speedup_vs_eager']}x | "
                    f"{r['build_s']} | {r['first_call_s']} |"
                )
    print(
        f"\n| training variant ({TRAIN_SIZE} px, batch {TRAIN_BATCH}) | s/step best | s/step median | images/s | "
        "vs baseline | first step s | first loss |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in result.get("training", {}).items():
        print(
            f"| {name} | {r['s_per_step']} | {r['median_s_per_step']} | {r['images_per_s']} | "
            f"{r['speedup_vs_baseline']}x | "
            f"{r['first_step_s']} | {r['first_loss']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="skip torch.compile (minutes of compiling per shape; tried at 256 px only)",
    )
    parser.add_argument("--sections", nargs="+", default=["floor", "profile", "inference", "training"])
    parser.add_argument("--train-rounds", type=int, default=4)
    parser.add_argument("--out", default="metrics/bench_speed.json")
    args = parser.parse_args()
    threads = set_threads(0)
    images = camera_images(4)
    result: dict = {
        "machine": machine_info(),
        "arch": "efficientdet_d0",
        "norm": "group",
        "min_score": MIN_SCORE,
        "note": "2-core machine shared with other work: compare ratios within one run",
    }
    sections = {
        "floor": lambda: floor_section(threads, args.sizes),
        "profile": lambda: profile_section(args.sizes, images, threads),
        "inference": lambda: inference_section(args.sizes, threads, images, not args.no_compile),
        "training": lambda: training_section(threads, not args.no_compile, args.train_rounds),
    }
    for name, run in sections.items():
        if name in args.sections:
            result[name] = run()
            write_json(Path(args.out), result)  # a long run keeps what it has measured so far
    print_tables(result)


if __name__ == "__main__":
    main()
