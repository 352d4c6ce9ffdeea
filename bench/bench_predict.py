"""`rpsdet predict` on a folder and a video, and the exported detector's size and speed per runtime.

1. `rpsdet predict` as a user runs it (a subprocess: Python start, model load, drawing, writing) on a folder of
   generated photos and on a short generated video, after one warm-up run that fills the ONNX cache.
2. The whole-detector export (`rpsdet export-model`) at the checkpoint's size, batch 1, 2 threads: file size, and
   ms per image end to end (letterbox + run + reading the detections) in ONNX Runtime, OpenVINO f32 and OpenVINO's
   default precision, next to rpsdet's own Detector (PyTorch, and ONNX Runtime network + PyTorch NMS) on the same
   image. Medians of --repeats rounds (each calls every runtime once, after 5 warm-up calls each).
Absolute times are noisy on a shared machine (the load average is recorded): compare ratios within one run.
Usage: python bench/bench_predict.py [--checkpoint PATH] [--images 100] [--frames 100] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from machine import machine_info
from rpsdet.classes import CLASS_NAMES
from rpsdet.data.synth import write_source
from rpsdet.files import write_json
from rpsdet.model.checkpoint import load_checkpoint, save_checkpoint
from rpsdet.model.device import set_threads
from rpsdet.model.export import ExportedModel, export_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.model.predict import Detector

THREADS = 2
MIN_SCORE = 0.05  # params export_model.min_score; the Detector rows use the same pre-filter


def random_checkpoint(path: Path, size: int) -> Path:
    """EfficientDet-D0 (GroupNorm, the training default) with random weights: the same graph and the same work as
    a trained one, except how many candidates clear the score pre-filter."""
    torch.manual_seed(0)
    save_checkpoint(
        path,
        build_effdet("efficientdet_d0", size, len(CLASS_NAMES), "group"),
        {"arch": "efficientdet_d0", "image_size": size, "norm": "group", "class_names": list(CLASS_NAMES)},
    )
    return path


def make_inputs(root: Path, images: int, frames: int) -> tuple[Path, Path]:
    """A folder of generated 320x240 photos, and an mp4v clip whose frames are other generated photos."""
    write_source(root / "photos_src", prefix="photo", count=images, multi_fraction=0.4, seed=11)
    write_source(root / "frames_src", prefix="frame", count=frames, multi_fraction=0.4, seed=12)
    video = root / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15, (320, 240))
    for p in sorted((root / "frames_src" / "JPEGImages").glob("*.jpg")):
        writer.write(cv2.imread(str(p)))
    writer.release()
    return root / "photos_src" / "JPEGImages", video


def run_predict(source: Path, checkpoint: Path, out: Path, env: dict[str, str]) -> dict:
    """Wall time of the whole command, and the time its own summary line reports for the prediction loop."""
    started = time.perf_counter()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpsdet.cli",
            "predict",
            str(source),
            "--model",
            str(checkpoint),
            "--out",
            str(out),
            "--params",
            str(out.parent / "none.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    wall = time.perf_counter() - started
    line = run.stdout.strip().splitlines()[-1]
    loop_s = float(re.search(r" in ([\d.]+) s ", line).group(1))
    count = int(re.search(r"(\d+) images?,", line).group(1)) + int(re.search(r"\((\d+) frames\)", line).group(1))
    return {
        "command_s": round(wall, 2),
        "loop_s": round(loop_s, 2),
        "images": count,
        "images_per_s": round(count / loop_s, 1),
        "startup_s": round(wall - loop_s, 2),
        "summary": line,
    }


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """ms per call, median of `repeats` rounds; each round calls every runner once, so a load change on a shared
    machine hits all of them alike and the ratios hold."""
    for fn in calls.values():
        for _ in range(5):
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return {name: round(1000 * float(np.median(t)), 1) for name, t in times.items()}


def bench_runtimes(checkpoint: Path, root: Path, rgb: np.ndarray, repeats: int) -> list[dict]:
    exports = {
        fmt: export_checkpoint(checkpoint, root / fmt / f"model{suffix}", fmt, MIN_SCORE)
        for fmt, suffix in (("onnx", ".onnx"), ("openvino", ".xml"))
    }
    all_candidates = export_checkpoint(checkpoint, root / "onnx_all" / "model.onnx", "onnx", 0.0)
    sizes = {
        fmt: round(sum(p.stat().st_size for p in e.files if p.suffix != ".json") / 2**20, 2)
        for fmt, e in exports.items()
    }
    ckpt_mib = round(checkpoint.stat().st_size / 2**20, 2)
    exported = {
        "exported, ONNX Runtime": (sizes["onnx"], ExportedModel(exports["onnx"].path, THREADS)),
        "exported, ONNX Runtime, min_score 0 (NMS over all)": (
            sizes["onnx"],
            ExportedModel(all_candidates.path, THREADS),
        ),
        "exported, OpenVINO f32": (sizes["openvino"], ExportedModel(exports["openvino"].path, THREADS)),
        "exported, OpenVINO default (bf16 here)": (
            sizes["openvino"],
            ExportedModel(exports["openvino"].path, THREADS, {"INFERENCE_PRECISION_HINT": "bf16"}),
        ),
    }
    detectors = {
        "rpsdet Detector: ONNX Runtime network + PyTorch NMS": Detector.from_checkpoint(checkpoint, backend="onnx"),
        "rpsdet Detector: PyTorch": Detector.from_checkpoint(checkpoint, backend="torch"),
    }
    calls = {name: (lambda m=model: m.predict(rgb, MIN_SCORE)) for name, (_, model) in exported.items()}
    calls.update({name: (lambda d=d: d.predict([rgb], MIN_SCORE)[0]) for name, d in detectors.items()})
    medians = interleaved_medians(calls, repeats)
    files = {**{name: size for name, (size, _) in exported.items()}, **{name: ckpt_mib for name in detectors}}
    return [
        {"runtime": name, "file_mib": files[name], "ms_per_image": medians[name], "detections": len(calls[name]())}
        for name in calls
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="an rpsdet checkpoint (default: random-init D0 at --size)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("metrics/bench_predict.json"))
    args = parser.parse_args()
    set_threads(THREADS)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        checkpoint = args.checkpoint or random_checkpoint(root / "model.pt", args.size)
        size = load_checkpoint(checkpoint)[1]["image_size"]
        photos, video = make_inputs(root, args.images, args.frames)
        env = {
            **os.environ,
            "RPSDET_CACHE_DIR": str(root / "cache"),
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]),
        }
        run_predict(photos, checkpoint, root / "warmup", env)  # fills the ONNX cache: a user's second run
        folder = run_predict(photos, checkpoint, root / "folder", env)
        clip = run_predict(video, checkpoint, root / "video", env)
        rgb = np.asarray(Image.open(next(photos.glob("*.jpg"))).convert("RGB"))
        runtimes = bench_runtimes(checkpoint, root, rgb, args.repeats)
    model = str(args.checkpoint) if args.checkpoint else f"random-init efficientdet_d0 {size} px (GroupNorm)"
    result = {
        "machine": {
            **machine_info(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        },
        "model": model,
        "image_size": size,
        "threads": THREADS,
        "min_score": MIN_SCORE,
        "predict_folder": folder,
        "predict_video": clip,
        "runtimes": runtimes,
        "note": "shared machine: absolute times are noisy; compare ratios within this run",
    }
    write_json(args.out, result)
    print(f"rpsdet predict, {size} px, {THREADS} threads (load average {load_before[0]:.1f} at start)")
    print(f"{'input':28} {'images':>6} {'command s':>10} {'loop s':>7} {'img/s':>6} {'startup s':>10}")
    for name, r in (("folder of 320x240 photos", folder), ("320x240 mp4 video (frames)", clip)):
        print(
            f"{name:28} {r['images']:6d} {r['command_s']:10.2f} {r['loop_s']:7.2f} {r['images_per_s']:6.1f} "
            f"{r['startup_s']:10.2f}"
        )
    fastest = min(r["ms_per_image"] for r in runtimes)
    print(f"\n{'runtime (batch 1, one 320x240 photo, end to end)':56} {'MiB':>6} {'ms':>7} {'vs best':>8} {'dets':>5}")
    for r in runtimes:
        print(
            f"{r['runtime']:56} {r['file_mib']:6.2f} {r['ms_per_image']:7.1f} "
            f"{r['ms_per_image'] / fastest:7.2f}x {r['detections']:5d}"
        )
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
