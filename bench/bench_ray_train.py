"""Training throughput on Ray Train: 1 vs 2 DDP workers (and the local loop), same data, same global batch/steps.

Each run is the real train stage path (`rpsdet.train.job.fit`), on a private local Ray; images/s counts the
training steps only (evaluation and Ray start-up are in the wall time). Runs alternate so drift hits all alike.
Prints a table and writes metrics/bench_ray_train.json.
Usage: python bench/bench_ray_train.py [--images 96] [--epochs 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from machine import machine_info
from rpsdet.data.split import write_splits
from rpsdet.data.synth import write_source
from rpsdet.files import write_json
from rpsdet.train.fit import fit
from rpsdet.train.job import TrainJob
from rpsdet.train.loop import TrainConfig
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source

SETUPS = (("local", 1), ("ray", 1), ("ray", 2))


def make_data(root: Path, images: int) -> Path:
    for name, count in (("train", images), ("test", 10)):
        write_source(root / "raw" / name, prefix=name, count=count, multi_fraction=0.2, seed=11)
        validate_source(root / "raw" / name, root / "validated" / name, ValidateConfig())
    write_splits(root / "validated" / "train", root / "validated" / "test", root / "splits", 0.9, seed=0)
    return root / "splits"


def run(splits: Path, out: Path, backend: str, workers: int, args: argparse.Namespace) -> dict:
    cfg = TrainConfig(
        image_size=args.image_size,
        batch_size=args.batch_size,
        epochs=args.epochs,
        eval_every=args.epochs,
        run_on=backend,
        ray_workers=workers,
        use_gpu=False,
    )
    started = time.perf_counter()
    summary = fit(TrainJob(cfg, splits / "train.json", splits / "val.json", out / f"{backend}{workers}.pt"))
    return {
        "images_per_s": summary["images_per_s"],
        "steps": summary["steps"],
        "threads": summary["threads"],
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="metrics/bench_ray_train.json")
    args = parser.parse_args()
    os.environ.pop("RAY_ADDRESS", None)  # always a private local Ray: the numbers describe this machine
    runs: dict[str, list[dict]] = {f"{b}{w}": [] for b, w in SETUPS}
    with tempfile.TemporaryDirectory() as tmp:
        splits = make_data(Path(tmp), args.images)
        for _ in range(args.repeats):
            for backend, workers in SETUPS:
                runs[f"{backend}{workers}"].append(run(splits, Path(tmp), backend, workers, args))

    rows = []
    for backend, workers in SETUPS:
        done = runs[f"{backend}{workers}"]
        speeds = [r["images_per_s"] for r in done]
        rows.append(
            {
                "backend": backend,
                "workers": workers,
                "threads_per_worker": done[0]["threads"],
                "steps": done[0]["steps"],
                "images_per_s": round(statistics.median(speeds), 2),
                "images_per_s_runs": speeds,
                "wall_s": round(statistics.median(r["wall_s"] for r in done), 1),
            }
        )
    one, two = rows[1]["images_per_s"], rows[2]["images_per_s"]
    result = {
        "machine": machine_info(),
        "image_size": args.image_size,
        "global_batch": args.batch_size,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "runs": rows,
        "two_over_one_worker": round(two / one, 3) if one else None,
    }
    print("| backend | workers | threads/worker | steps | images/s (train steps) | runs | wall s (incl. start, eval) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['workers']} | {r['threads_per_worker']} | {r['steps']} | {r['images_per_s']} | "
            f"{r['images_per_s_runs']} | {r['wall_s']} |"
        )
    print(f"2 workers / 1 worker: {result['two_over_one_worker']}")
    write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
