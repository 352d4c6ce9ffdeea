"""Bounded load test of `rpsdet serve` on loopback: latency, throughput, serving overhead, batching, versions, memory.

Fixed duration per concurrency level (1, 4, 8); stops by itself. The service holds two versions (the checkpoint and
--second-checkpoint, default the same file loaded again as another version): the levels use the default version,
then a mixed-version run alternates the two at the top level. Serving overhead = HTTP p50 at concurrency 1 minus
the in-process model p50 (same images, same run, same thread count and OpenMP settings), and minus the model time
the service itself reports for the same requests (steadier on a shared machine). Batching gain = requests/s at the
top level with batching (`serve.max_batch_size`, or 4 when it resolves to 1) vs without (max_batch_size 1, no batch
wait). The levels run again behind the other HTTP front (serve.http_proxy: Serve's Python proxy or HAProxy), same run.
Prints a table, writes metrics/bench_serve.json.
Usage: python bench/bench_serve.py [--checkpoint PATH] [--second-checkpoint PATH] [--duration 10] [--levels 1,4,8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode, urlsplit

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
from rpsdet.serve.models import served_model
from rpsdet.serve.runner import REPLICA_ENV, gpus_per_replica, local_app

PASSWORD = "benchmark-password"


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def sample_images(root: Path, count: int) -> list[bytes]:
    write_source(root, prefix="bench", count=count, multi_fraction=0.4, seed=123)
    return read_images(root)


def read_images(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((root / "JPEGImages").glob("*.jpg"))]


def model_p50(checkpoint: Path, images_dir: Path, threads: int, min_score: float) -> float:
    """In-process predict p50, in a fresh process with a serving replica's environment (REPLICA_ENV and
    OMP_NUM_THREADS are read when the OpenMP runtime loads: this process has loaded it already)."""
    env = {**os.environ, **REPLICA_ENV, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, __file__, "--model-p50-only", str(checkpoint), str(images_dir), str(threads), str(min_score)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def _model_p50_here(checkpoint: Path, images: list[bytes], threads: int, min_score: float, repeats: int = 3) -> float:
    """Predict (batch 1) on the same decoded images, with the replica's thread count and min_score (a threshold of
    0 sends every candidate box through NMS: several times slower than what the service runs)."""
    import io

    set_threads(threads)
    detector = Detector.from_checkpoint(checkpoint)
    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in images]
    for _ in range(3):
        detector.predict(arrays[:1], min_score)
    times = []
    for _ in range(repeats):
        for a in arrays:
            started = time.perf_counter()
            detector.predict([a], min_score)
            times.append(1000 * (time.perf_counter() - started))
    return percentile(times, 50)


def load(
    url: str, token: str, images: list[bytes], concurrency: int, duration: float, versions: tuple[str, ...] = ()
) -> dict:
    """`concurrency` clients, each sending requests back to back for `duration` seconds over one keep-alive
    connection; with `versions`, request i asks for versions[i % len(versions)] (a wrong version in an answer counts
    as an error). The clients use the standard library's http.client: `requests` spends about 2 ms of CPU per call
    on this machine's two cores, which the server shares, and would count as serving overhead."""
    latencies: list[float] = []
    server: list[float] = []
    model: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    address = urlsplit(url)

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}
        i = offset
        while time.monotonic() < deadline:
            wanted = versions[i % len(versions)] if versions else None
            path = "/api/v1/detect" + (f"?{urlencode({'model': wanted})}" if wanted else "")
            started = time.perf_counter()
            try:
                connection.request("POST", path, body=images[i % len(images)], headers=headers)
                response = connection.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request opens a new connection
                status, data = 0, b""
            elapsed = 1000 * (time.perf_counter() - started)
            body = json.loads(data) if status == 200 else None
            ok = body is not None and (wanted is None or body["model"]["version"] == wanted)
            with lock:
                if ok:
                    latencies.append(elapsed)
                    server.append(body["server_ms"])
                    model.append(body["model_ms"])
                else:
                    errors[0] += 1
            i += concurrency
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors[0],
        "rps": round(len(latencies) / wall, 2),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "server_p50_ms": percentile(server, 50),
        "model_p50_ms": percentile(model, 50),
    }


def replica_rss_mib() -> float:
    """Resident memory of the serving replica process(es) Ray started (process title ray::ServeReplica:...)."""
    total_kib = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if b"ServeReplica:rpsdet:ingress" in (proc / "cmdline").read_bytes():
                total_kib += int(
                    next(
                        line.split()[1]
                        for line in (proc / "status").read_text().splitlines()
                        if line.startswith("VmRSS:")
                    )
                )
        except (OSError, StopIteration):
            continue  # the process ended meanwhile, or is a kernel thread without RSS
    return round(total_kib / 1024, 1)


def run_config(
    checkpoints: tuple[Path, Path],
    cfg: ServeConfig,
    images: list[bytes],
    levels: list[int],
    duration: float,
    mixed: bool,
) -> dict:
    """One deployment: the levels on the default version, then (with `mixed`, two versions held) both alternating."""
    models = [served_model(checkpoints[0], "model", "bench-a"), served_model(checkpoints[1], "model", "bench-b")]
    with local_app(models if mixed else models[:1], cfg) as url:
        batch = cfg.batch_size(gpus_per_replica(cfg.num_gpus))
        token = requests.post(
            f"{url}/api/v1/login", json={"username": "bench", "password": PASSWORD}, timeout=30
        ).json()["token"]
        load(url, token, images, 1, 2.0)  # settle connections and caches; not recorded
        rows = [load(url, token, images, c, duration) for c in levels]
        mixed_row = load(url, token, images, max(levels), duration, ("bench-a", "bench-b")) if mixed else None
        return {"max_batch_size": batch, "levels": rows, "mixed_versions": mixed_row, "rss_mib": replica_rss_mib()}


def main() -> None:
    if sys.argv[1:2] == ["--model-p50-only"]:  # the child process of model_p50()
        checkpoint, images_dir, threads, min_score = sys.argv[2:6]
        print(_model_p50_here(Path(checkpoint), read_images(Path(images_dir)), int(threads), float(min_score)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", default=None, help="default: the `model` artifact's path in dvc.yaml")
    parser.add_argument("--second-checkpoint", default=None, help="the second served version (default: the same file)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per concurrency level")
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--out", default="metrics/bench_serve.json")
    args = parser.parse_args()

    checkpoint = Path(args.checkpoint or declared_artifacts(Path("."))["model"]["path"])
    checkpoints = (checkpoint, Path(args.second_checkpoint or checkpoint))
    levels = [int(x) for x in args.levels.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        images = sample_images(tmp / "images", args.images)
        UserStore(tmp / "users.json").add("bench", PASSWORD)
        base = ServeConfig.from_params(load_params().get("serve"))
        base = replace(
            base,
            users_file=str(tmp / "users.json"),
            secret_file=str(tmp / "secret"),
            port=8765,
            limits=replace(base.limits, requests_per_minute=10**9, burst=10**9),
        )
        in_process = model_p50(checkpoint, tmp / "images", base.threads_per_replica, base.min_score)
        default = run_config(checkpoints, base, images, levels, args.duration, mixed=True)
        # The other side of the batching question: batch 4 when the default does not batch, else no batching at
        # all (Ray would still wait batch_wait_timeout_s for a batch of one: zero it for a fair baseline).
        other_batch = 4 if default["max_batch_size"] == 1 else 1
        other = run_config(
            checkpoints,
            replace(
                base,
                max_batch_size=other_batch,
                batch_wait_timeout_s=base.batch_wait_timeout_s if other_batch > 1 else 0.0,
            ),
            images,
            [max(levels)],
            args.duration,
            mixed=False,
        )
        other_front = "haproxy" if base.http_proxy == "serve" else "serve"
        front = run_config(
            checkpoints,
            replace(base, http_proxy=other_front),
            images,
            levels,
            args.duration,
            mixed=False,
        )

    top, other_top = default["levels"][-1], other["levels"][0]
    batched, unbatched = (other_top, top) if other_batch > 1 else (top, other_top)
    overhead = round(default["levels"][0]["p50_ms"] - in_process, 1)
    # The same figure against the model time measured inside the service during the same requests: on a machine
    # shared with other work, the in-process p50 (measured minutes earlier) can be far off.
    overhead_in_service = round(default["levels"][0]["p50_ms"] - default["levels"][0]["model_p50_ms"], 1)
    front_overhead = round(front["levels"][0]["p50_ms"] - front["levels"][0]["model_p50_ms"], 1)
    gain = round(batched["rps"] / unbatched["rps"], 2) if unbatched["rps"] else float("nan")
    rows = default["levels"] + [default["mixed_versions"], other_top] + front["levels"]
    result = {
        "machine": machine_info(),
        "checkpoints": [str(c) for c in checkpoints],
        "duration_s": args.duration,
        "layout": "one deployment (ingress holds the models)",
        "http_proxy": base.http_proxy,
        "max_batch_size": default["max_batch_size"],
        "threads_per_replica": base.threads_per_replica,
        "levels": default["levels"],
        "mixed_versions_at_max_level": default["mixed_versions"],
        f"max_batch_size_{other_batch}_at_max_level": other_top,
        "model_p50_ms_in_process": in_process,
        "serving_overhead_ms": overhead,
        "serving_overhead_vs_in_service_model_ms": overhead_in_service,
        f"http_proxy_{other_front}": {
            "levels": front["levels"],
            "serving_overhead_vs_in_service_model_ms": front_overhead,
        },
        "batching_gain": gain,
        "batching_compared": [max(other_batch, default["max_batch_size"]), 1],
        "replica_rss_mib_two_versions": default["rss_mib"],
        "errors": sum(r["errors"] for r in rows),
        "targets": {"serving_overhead_ms_max": 5, "errors": 0},
    }
    write_json(Path(args.out), result)

    print("| run | concurrency | requests/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    labels = (
        [f"{base.http_proxy}, default version, batch {default['max_batch_size']}"] * len(levels)
        + ["two versions alternating", f"batch {other_batch}"]
        + [f"{other_front}, default version, batch {front['max_batch_size']}"] * len(levels)
    )
    for label, r in zip(labels, rows):
        print(
            f"| {label} | {r['concurrency']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
            f"{r['errors']} |"
        )
    print(
        f"\nin-process model p50 {in_process} ms; serving overhead {overhead} ms (target <= 5), "
        f"{overhead_in_service} ms against the model time inside the service ({base.http_proxy}; {other_front}: "
        f"{front_overhead} ms); batching gain "
        f"{gain}x (batch {max(other_batch, default['max_batch_size'])} over 1 at concurrency {max(levels)}); "
        f"serving replica RSS with two versions {default['rss_mib']} MiB -> {args.out}"
    )


if __name__ == "__main__":
    main()
