"""Peak memory of the ingress replica (where uploads are decoded) under 8 concurrent worst-case uploads.

Worst case = an image at exactly `serve.limits.max_pixels`, small on the wire: a flat PNG (no draft decoding
for PNG: every pixel is decoded) and a flat JPEG (decoded at 1/2..1/8 scale in draft mode). Two settings side by
side in one run: today's defaults, and the old limits (40 Mpx, no bound on concurrent decodes). The ingress
replica's peak RSS (VmHWM, reset before each round) is read from /proc. Prints a table, writes
metrics/bench_decode_memory.json. Usage: python bench/bench_decode_memory.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import math
import tempfile
import threading
import time
from pathlib import Path

import requests
from PIL import Image

from machine import machine_info
from rpsdet.files import write_json
from rpsdet.model.checkpoint import save_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.serve.auth import UserStore
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.models import served_model
from rpsdet.serve.runner import local_app

PASSWORD = "benchmark-password"
SETTINGS = {"defaults": {}, "old limits": {"max_pixels": 40_000_000, "concurrent_decodes": 8}}
CONCURRENT = 8


def worst_case(max_pixels: int, fmt: str) -> bytes:
    """A 4:3 image of just under `max_pixels`, flat grey so it is tiny on the wire."""
    height = int(math.sqrt(max_pixels * 3 / 4))
    width = max_pixels // height
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (120, 120, 120)).save(buf, fmt, **({"quality": 50} if fmt == "JPEG" else {}))
    return buf.getvalue()


def ingress_pid() -> int:
    """Ray names its worker processes after the actor: ray::ServeReplica:<app>:<deployment>."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"ServeReplica:rpsdet:ingress" in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except OSError:
            continue
    raise RuntimeError("no ingress replica process found")


def memory_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM")}


def upload_round(url: str, token: str, data: bytes, content_type: str) -> list[int]:
    codes: list[int] = []
    start = threading.Barrier(CONCURRENT)

    def send() -> None:
        start.wait()
        codes.append(
            requests.post(
                f"{url}/api/v1/detect",
                data=data,
                timeout=300,
                headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
            ).status_code
        )

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def measure(checkpoint: Path, cfg: ServeConfig, rounds: int) -> dict:
    rows = {}
    with local_app([served_model(checkpoint, "model", "bench")], cfg) as url:
        token = requests.post(
            f"{url}/api/v1/login", json={"username": "bench", "password": PASSWORD}, timeout=60
        ).json()["token"]
        pid = ingress_pid()
        for fmt, content_type in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
            data = worst_case(cfg.limits.max_pixels, fmt)
            upload_round(url, token, data, content_type)  # warm: allocator pools, thread pool
            idle = memory_mib(pid)["VmRSS"]
            peaks, seconds, codes = [], [], []
            for _ in range(rounds):
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
                started = time.perf_counter()
                codes += upload_round(url, token, data, content_type)
                seconds.append(time.perf_counter() - started)
                peaks.append(memory_mib(pid)["VmHWM"])
            rows[fmt] = {
                "upload_kib": round(len(data) / 1024, 1),
                "idle_rss_mib": idle,
                "peak_rss_mib": max(peaks),
                "peak_over_idle_mib": round(max(peaks) - idle, 1),
                "round_s": round(min(seconds), 2),
                "status_codes": sorted(set(codes)),
            }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="metrics/bench_decode_memory.json")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        checkpoint = tmp / "model.pt"  # untrained: the model's weights do not matter for decode memory
        save_checkpoint(
            checkpoint,
            build_effdet("efficientdet_d0", 128, 3, "group"),
            {
                "arch": "efficientdet_d0",
                "image_size": 128,
                "norm": "group",
                "class_names": ["rock", "paper", "scissors"],
            },
        )
        UserStore(tmp / "users.json").add("bench", PASSWORD)
        for name, limits in SETTINGS.items():
            cfg = ServeConfig.from_params(
                {
                    "port": 8766,
                    "threads_per_replica": 1,
                    "users_file": str(tmp / "users.json"),
                    "secret_file": str(tmp / "secret"),
                    "backend": "torch",
                    "limits": {"requests_per_minute": 6000, "burst": 100, **limits},
                }
            )
            results[name] = {
                "max_pixels": cfg.limits.max_pixels,
                "concurrent_decodes": cfg.limits.concurrent_decodes,
                "uploads": measure(checkpoint, cfg, args.rounds),
            }
    print(f"ingress replica memory, {CONCURRENT} concurrent uploads at max_pixels (MiB)")
    print(
        f"{'setting':12} {'max_pixels':>11} {'decodes':>8} {'format':6} {'upload KiB':>10} {'idle':>7} "
        f"{'peak':>7} {'peak-idle':>9} {'round s':>8}"
    )
    for name, r in results.items():
        for fmt, row in r["uploads"].items():
            print(
                f"{name:12} {r['max_pixels']:>11,} {r['concurrent_decodes']:>8} {fmt:6} {row['upload_kib']:>10} "
                f"{row['idle_rss_mib']:>7} {row['peak_rss_mib']:>7} {row['peak_over_idle_mib']:>9} "
                f"{row['round_s']:>8}"
            )
    write_json(Path(args.out), {"machine": machine_info(), "concurrent_uploads": CONCURRENT, "settings": results})


if __name__ == "__main__":
    main()
