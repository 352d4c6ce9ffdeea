"""Validation throughput: the full validator (both cores) against a plain single-process PIL full-decode loop
over the same 1,000 640x640 JPEGs. Writes metrics/bench_validate.json and prints a table.

The clean dataset is written once to the source's disk (what a user gets) and once to RAM (/dev/shm) where there
is one, which separates the validator's compute from the disk's cost of writing 1,000 new files.

Usage: python bench/bench_validate.py [--images 1000] [--size 640] [--workers 0]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from rpsdet.data.formats.voc import VocObject, VocRecord, write_voc
from rpsdet.files import write_json
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.images import dhash, thumbnail
from rpsdet.validate.run import validate_source


def make_source(root: Path, count: int, size: int) -> list[Path]:
    """Photo-like JPEGs (smooth gradients + noise, so they compress like photos) with one box each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(count):
        c = rng.uniform(30, 220, (3, 3))
        img = (
            c[0] * xx[..., None]
            + c[1] * yy[..., None]
            + c[2] * (1 - xx[..., None]) * 0.5
            + rng.normal(0, 12, (size, size, 3))
        )
        path = root / "JPEGImages" / f"b_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        write_voc(
            root / "Annotations" / f"b_{i:05d}.xml",
            VocRecord(path.name, size, size, 3, [VocObject("rock", (size * 0.2, size * 0.2, size * 0.6, size * 0.7))]),
        )
        paths.append(path)
    return paths


def plain_loop(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return time.perf_counter() - start


def per_image_ms(paths: list[Path], out: Path) -> dict[str, float]:
    """One process, the validator's duties one at a time: what each adds to the decode both contenders do."""
    data = [p.read_bytes() for p in paths]
    out.mkdir(parents=True, exist_ok=True)

    def decode(d: bytes) -> Image.Image:
        im = Image.open(BytesIO(d))
        im.load()
        return im

    images = [decode(d) for d in data[:100]]
    steps = {
        "full_decode": (lambda i: decode(data[i]), len(data)),
        "sha256": (lambda i: hashlib.sha256(data[i]).hexdigest(), len(data)),
        "perceptual_hash": (lambda i: (dhash(images[i]), thumbnail(images[i])), len(images)),
        "copy_to_clean_dataset": (lambda i: (out / f"{i}.jpg").write_bytes(data[i]), len(data)),
    }
    result = {}
    for name, (step, n) in steps.items():
        start = time.perf_counter()
        for i in range(n):
            step(i)
        result[name] = round((time.perf_counter() - start) / n * 1e3, 3)
    return result


def time_validator(src: Path, out: Path, workers: int, images: int) -> float:
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        summary = validate_source(src, out, ValidateConfig(workers=workers))  # look-alikes are flagged, kept
        runs.append(time.perf_counter() - start)
    assert summary["kept_images"] == images
    shutil.rmtree(out)
    return min(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", default="metrics/bench_validate.json")
    args = ap.parse_args()
    ram = Path("/dev/shm")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        paths = make_source(src, args.images, args.size)
        plain_loop(paths[:50])  # warm the page cache for both contenders
        loop_s = min(plain_loop(paths) for _ in range(2))
        disk_s = time_validator(src, Path(tmp) / "out", args.workers, args.images)
        ram_s = (
            time_validator(src, ram / f"rpsdet-bench-{os.getpid()}", args.workers, args.images)
            if ram.is_dir()
            else None
        )
        costs = per_image_ms(paths[:300], Path(tmp) / "copies")
    result = {
        "images": args.images,
        "size": args.size,
        "cores": len(os.sched_getaffinity(0)),
        "workers": args.workers or len(os.sched_getaffinity(0)),
        "plain_pil_loop_images_per_s": round(args.images / loop_s, 1),
        "validator_images_per_s": round(args.images / disk_s, 1),
        "speedup": round(loop_s / disk_s, 2),
        "validator_output_in_ram_images_per_s": round(args.images / ram_s, 1) if ram_s else None,
        "speedup_output_in_ram": round(loop_s / ram_s, 2) if ram_s else None,
        "per_image_ms_one_process": costs,
        "validator_does": "read + sha256 + full decode + EXIF + dHash and colour thumbnail + copy to the clean "
        "dataset (pool) + "
        "duplicate search + annotation checks + report",
    }
    write_json(Path(args.out), result)
    ram_row = (
        f"| rpsdet validate, clean dataset written to RAM (/dev/shm) | "
        f"{result['validator_output_in_ram_images_per_s']}"
        f" | {result['speedup_output_in_ram']}x |\n"
        if ram_s
        else ""
    )
    print(
        f"| contender | images/s | vs loop |\n|---|---|---|\n"
        f"| plain PIL full-decode loop, 1 process | {result['plain_pil_loop_images_per_s']} | 1.00x |\n"
        f"| rpsdet validate, {result['workers']} processes, clean dataset written to disk | "
        f"{result['validator_images_per_s']} | {result['speedup']}x |\n{ram_row}"
    )
    print("per image, one process (ms): " + ", ".join(f"{k} {v}" for k, v in costs.items()))


if __name__ == "__main__":
    main()
