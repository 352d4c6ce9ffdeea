"""Validation throughput: the full validator (both cores) against a plain single-process PIL full-decode loop
over the same 1,000 640x640 JPEGs. Writes metrics/bench_validate.json and prints a table.

Usage: python bench/bench_validate.py [--images 1000] [--size 640] [--workers 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rpsdet.data.voc import VocObject, VocRecord, write_voc  # noqa: E402
from rpsdet.files import write_json  # noqa: E402
from rpsdet.validate.config import ValidateConfig  # noqa: E402
from rpsdet.validate.run import validate_source  # noqa: E402


def make_source(root: Path, count: int, size: int) -> list[Path]:
    """Photo-like JPEGs (smooth gradients + noise, so they compress like photos) with one box each."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    paths = []
    for i in range(count):
        c = rng.uniform(30, 220, (3, 3))
        img = (c[0] * xx[..., None] + c[1] * yy[..., None] + c[2] * (1 - xx[..., None]) * 0.5
               + rng.normal(0, 12, (size, size, 3)))
        path = root / "JPEGImages" / f"b_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        write_voc(root / "Annotations" / f"b_{i:05d}.xml",
                  VocRecord(path.name, size, size, 3, [VocObject("rock", (size * 0.2, size * 0.2, size * 0.6, size * 0.7))]))
        paths.append(path)
    return paths


def plain_loop(paths: list[Path]) -> float:
    start = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--out", default="metrics/bench_validate.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        paths = make_source(src, args.images, args.size)
        plain_loop(paths[:50])  # warm the page cache for both contenders
        loop_s = min(plain_loop(paths) for _ in range(2))
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            # Smooth synthetic gradients look alike to a perceptual hash: flag (not quarantine) near-duplicates.
            summary = validate_source(src, Path(tmp) / "out", ValidateConfig(workers=args.workers,
                                                                            near_duplicates="flag"))
            runs.append(time.perf_counter() - start)
        assert summary["kept_images"] == args.images
    validate_s = min(runs)
    result = {
        "images": args.images,
        "size": args.size,
        "cores": len(os.sched_getaffinity(0)),
        "workers": args.workers or len(os.sched_getaffinity(0)),
        "plain_pil_loop_images_per_s": round(args.images / loop_s, 1),
        "validator_images_per_s": round(args.images / validate_s, 1),
        "speedup": round(loop_s / validate_s, 2),
        "validator_does": "read + sha256 + full decode + EXIF + perceptual hash (pool) + duplicate search + "
                          "annotation checks + copy to the clean dataset + report",
    }
    write_json(Path(args.out), result)
    print(f"| contender | images/s |\n|---|---|\n| plain PIL full-decode loop, 1 process | "
          f"{result['plain_pil_loop_images_per_s']} |\n| rpsdet validate, {result['workers']} processes | "
          f"{result['validator_images_per_s']} |\n| speedup | {result['speedup']}x |")


if __name__ == "__main__":
    main()
