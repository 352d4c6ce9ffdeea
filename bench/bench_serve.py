"""Bounded load test of `rpsdet serve` on loopback: latency, throughput, serving overhead, batching gain, memory.

Fixed duration per concurrency level (1, 4, 8); stops by itself. Serving overhead = HTTP p50 at concurrency 1
minus the in-process model p50 (same images, same run, same thread count). Batching gain = requests/s at
concurrency 8 with `serve.max_batch_size` vs with max_batch_size=1. Prints a table, writes metrics/bench_serve.json.
Usage: python bench/bench_serve.py [--checkpoint PATH] [--duration 10] [--levels 1,4,8]
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from machine import machine_info
from rpsdet.data.synth import write_source
from rpsdet.files import write_json
from rpsdet.model.device import set_threads
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.registry.versions import declared_artifacts
from rpsdet.serve.auth import UserStore
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.runner import checkpoint_info, local_app

PASSWORD = "benchmark-password"


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def sample_images(root: Path, count: int) -> list[bytes]:
    write_source(root, prefix="bench", count=count, multi_fraction=0.4, seed=123)
    return [p.read_bytes() for p in sorted((root / "JPEGImages").glob("*.jpg"))]


def model_p50(checkpoint: Path, images: list[bytes], threads: int, repeats: int = 3) -> float:
    """In-process predict (batch 1) on the same decoded images, with the replica's thread count."""
    import io

    set_threads(threads)
    detector = Detector.from_checkpoint(checkpoint)
    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in images]
    for _ in range(3):
        detector.predict(arrays[:1])
    times = []
    for _ in range(repeats):
        for a in arrays:
            started = time.perf_counter()
            detector.predict([a])
            times.append(1000 * (time.perf_counter() - started))
    return percentile(times, 50)


def load(url: str, token: str, images: list[bytes], concurrency: int, duration: float) -> dict:
    """`concurrency` clients, each sending requests back to back for `duration` seconds."""
    latencies: list[float] = []
    server: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def client(offset: int) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
        i = offset
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                r = session.post(f"{url}/api/v1/detect", data=images[i % len(images)], headers=headers, timeout=30)
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            elapsed = 1000 * (time.perf_counter() - started)
            with lock:
                if ok:
                    latencies.append(elapsed)
                    server.append(r.json()["server_ms"])
                else:
                    errors[0] += 1
            i += concurrency

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors[0],
            "rps": round(len(latencies) / wall, 2), "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
            "server_p50_ms": percentile(server, 50)}


def replica_rss_mib() -> float:
    """Resident memory of the model replica process(es) Ray started (process title ray::ServeReplica:...)."""
    total_kib = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"ServeReplica:rpsdet:model" in (proc / "cmdline").read_bytes():
                total_kib += int(next(line.split()[1] for line in (proc / "status").read_text().splitlines()
                                      if line.startswith("VmRSS:")))
        except (OSError, StopIteration):
            continue  # the process ended meanwhile, or is a kernel thread without RSS
    return round(total_kib / 1024, 1)


def run_config(checkpoint: Path, cfg: ServeConfig, images: list[bytes], levels: list[int],
               duration: float) -> tuple[list[dict], float]:
    info = checkpoint_info(checkpoint, "model", "bench", None)
    with local_app(checkpoint, info, cfg) as url:
        token = requests.post(f"{url}/api/v1/login", json={"username": "bench", "password": PASSWORD},
                              timeout=30).json()["token"]
        load(url, token, images, 1, 2.0)  # settle connections and caches; not recorded
        rows = [load(url, token, images, c, duration) for c in levels]
        return rows, replica_rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None, help="default: the `model` artifact's path in dvc.yaml")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--out", default="metrics/bench_serve.json")
    args = parser.parse_args()

    checkpoint = Path(args.checkpoint or declared_artifacts(Path("."))["model"]["path"])
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        images = sample_images(tmp / "images", args.images)
        UserStore(tmp / "users.json").add("bench", PASSWORD)
        base = ServeConfig.from_params(load_params().get("serve"))
        base = replace(base, users_file=str(tmp / "users.json"), secret_file=str(tmp / "secret"), port=8765,
                       limits=replace(base.limits, requests_per_minute=10**9, burst=10**9))
        in_process = model_p50(checkpoint, images, base.threads_per_replica)
        batched, rss = run_config(checkpoint, base, images, levels, args.duration)
        # No batching at all: Ray still waits batch_wait_timeout_s for a batch of one, so zero it for a fair baseline.
        unbatched, _ = run_config(checkpoint, replace(base, max_batch_size=1, batch_wait_timeout_s=0.0), images,
                                  [max(levels)], args.duration)

    overhead = round(batched[0]["p50_ms"] - in_process, 1)
    gain = round(batched[-1]["rps"] / unbatched[0]["rps"], 2) if unbatched[0]["rps"] else float("nan")
    result = {"machine": machine_info(), "checkpoint": str(checkpoint), "duration_s": args.duration,
              "max_batch_size": base.max_batch_size, "threads_per_replica": base.threads_per_replica,
              "levels": batched, "unbatched_at_max_level": unbatched[0], "model_p50_ms_in_process": in_process,
              "serving_overhead_ms": overhead, "batching_gain": gain, "replica_rss_mib": rss,
              "errors": sum(r["errors"] for r in batched + unbatched),
              "targets": {"serving_overhead_ms_max": 15, "batching_gain_min": 1.3, "errors": 0}}
    write_json(Path(args.out), result)

    print(f"| concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors | (batch {base.max_batch_size}) |")
    print("|---|---|---|---|---|---|---|")
    for r in batched + [{**unbatched[0], "concurrency": f"{unbatched[0]['concurrency']} (batch 1)"}]:
        print(f"| {r['concurrency']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} | |")
    print(f"\nin-process model p50 {in_process} ms; serving overhead {overhead} ms (target <= 15); "
          f"batching gain {gain}x (target >= 1.3); model replica RSS {rss} MiB -> {args.out}")


if __name__ == "__main__":
    main()
