"""`make gpu-check`: what this project does on one CUDA GPU, measured and checked in one run of under 8 minutes.

Parts, each in its own process under its own time budget, so a crash, a hang or a poisoned CUDA context in one is
recorded in the table and the JSON with its message while the others still run:
  inference  Detector (torch backend) on cuda: ms per image at batch 1 and 8, after warm-up
  train      the real training path (TrainJob / fit) at 512 px, batch 16, bf16 autocast, on synthetic 512-px data:
             images/s over the training steps and peak GPU memory
  serve      `rpsdet serve`'s app (local_app) with serve.num_gpus auto: the replica must really hold the GPU; p50/p99
             at concurrency 1, 8 and 32 for max_batch_size 1, 8 and 16, and the batching gain over 1
  ray_train  train.run_on ray, one worker, use_gpu true (Ray Train's nccl process group)
Prints a table, writes metrics/bench_gpu.json (machine and GPU recorded) and exits 1 unless every part passed.

Without a CUDA GPU it prints one line and exits 0, writing nothing: metrics/bench_gpu.json is the committed record of
a real GPU run, and a CPU machine must not overwrite it with a note that it has no GPU.
--cpu-dry-run walks every part end to end on CPU at tiny sizes (checks that only hold on a GPU are reported as
not run) and writes its JSON to the temp folder unless --out is given.
Usage: python bench/gpu_check.py [--cpu-dry-run] [--parts inference,train,serve,ray_train] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from machine import machine_info
from rpsdet.files import write_json

if TYPE_CHECKING:
    from rpsdet.serve.config import ServeConfig
    from rpsdet.serve.models import ServedModel
    from rpsdet.train.loop import TrainConfig

# Heavy imports (effdet, Ray, the rpsdet stack) happen inside the parts: the no-GPU path stays one quick line, and
# a library that fails to import fails only the parts that use it.

DEFAULT_OUT = "metrics/bench_gpu.json"
TOTAL_LIMIT_S = 470.0  # the GPU run's promise is under 8 minutes: budgets shrink to keep the total below this
MIN_PART_S = 20.0  # a part with less time left than this is not started
STOP_GRACE_S = 10.0  # after its budget a part gets SIGINT (its finally blocks shut Ray down), then SIGKILL
NOT_RUN = "not run: holds on a GPU only"
PASSWORD = "gpu-check-password"


@dataclass(frozen=True)
class Sizes:
    """How big each part runs: the GPU check itself, or the CPU dry run that walks the same code."""

    device: str
    image_size: int
    batch_size: int
    train_images: int  # synthetic train-source images: 90 % train, 10 % val
    warmup_epochs: int  # a first short run pays one-off costs (CUDA context, kernels, loader start) before timing
    epochs: int
    loader_workers: int  # DataLoader processes: at 512 px one CPU thread cannot feed a GPU
    threads: int | None  # torch threads per process; None = the project's own settings (params.yaml)
    ray_epochs: int
    infer_batches: tuple[int, ...]
    infer_calls: int  # timed predict calls per batch size, after as many warm-up calls
    serve_images: int  # 640x480 JPEGs, the size of a typical labeling-tool export
    serve_batch_sizes: tuple[int, ...]
    serve_levels: tuple[int, ...]  # concurrent clients
    serve_duration_s: float  # per concurrency level
    budgets_s: dict[str, float]


def gpu_sizes() -> Sizes:
    return Sizes(
        device="cuda",
        image_size=512,
        batch_size=16,
        train_images=160,
        warmup_epochs=1,
        epochs=4,
        loader_workers=min(8, len(os.sched_getaffinity(0)) // 2),
        threads=None,
        ray_epochs=2,
        infer_batches=(1, 8),
        infer_calls=30,
        serve_images=16,
        serve_batch_sizes=(1, 8, 16),
        serve_levels=(1, 8, 32),
        serve_duration_s=4.0,
        budgets_s={"inference": 70, "train": 100, "serve": 170, "ray_train": 100},
    )


def dry_run_sizes() -> Sizes:
    # One thread per process: on a shared CPU, two OpenMP threads waiting on each other at every barrier ran
    # predict 20-100x slower than one thread (measured on the 2-core machine under load).
    return Sizes(
        device="cpu",
        image_size=128,
        batch_size=2,
        train_images=10,
        warmup_epochs=1,
        epochs=1,
        loader_workers=0,
        threads=1,
        ray_epochs=1,
        infer_batches=(1, 8),
        infer_calls=3,
        serve_images=4,
        serve_batch_sizes=(1, 8, 16),
        serve_levels=(1, 2, 4),
        serve_duration_s=1.5,
        budgets_s={"inference": 1200, "train": 1200, "serve": 1800, "ray_train": 1200},
    )  # a shared CPU


class Checks:
    """What a part asserts; a check that only holds on a GPU is recorded as not run in the CPU dry run."""

    def __init__(self, on_gpu: bool):
        self.on_gpu = on_gpu
        self.results: dict[str, str] = {}

    def expect(self, what: str, passed: bool, gpu_only: bool = False) -> None:
        self.results[what] = NOT_RUN if gpu_only and not self.on_gpu else ("pass" if passed else "FAIL")


# ---------------------------------------------------------------- what the parts share (each makes its own copy)


def train_config(s: Sizes, **overrides: Any) -> TrainConfig:
    """params.yaml `train:` as `rpsdet` trains it, at this check's size and schedule."""
    from rpsdet.params import load_params
    from rpsdet.train.loop import TrainConfig

    cfg = TrainConfig.from_params(load_params().get("train") or {})
    settings = {
        "image_size": s.image_size,
        "batch_size": s.batch_size,
        "epochs": s.epochs,
        "eval_every": s.epochs,
        "early_stop_patience": 0,
        "device": s.device,
        "loader_workers": s.loader_workers,
        "resume": False,
        "init_from": None,
        "run_on": "local",
        "ray_address": None,
        "threads": cfg.threads if s.threads is None else s.threads,
    }
    return replace(cfg, **{**settings, **overrides})


def synthetic_splits(work: Path, s: Sizes) -> Path:
    """Synthetic VOC sources at the training size (4:3), validated and split as the pipeline does."""
    from rpsdet.data.split import write_splits
    from rpsdet.data.synth import write_source
    from rpsdet.validate.config import ValidateConfig
    from rpsdet.validate.run import validate_source

    height = s.image_size * 3 // 4
    for name, count in (("train", s.train_images), ("test", 4)):
        write_source(
            work / "raw" / name,
            prefix=name,
            count=count,
            multi_fraction=0.3,
            seed=17,
            width=s.image_size,
            height=height,
        )
        validate_source(work / "raw" / name, work / "validated" / name, ValidateConfig())
    write_splits(work / "validated" / "train", work / "validated" / "test", work / "splits", 0.9, seed=0)
    return work / "splits"


def untrained_checkpoint(work: Path, s: Sizes) -> Path:
    """An rpsdet checkpoint of the configured network at this size: timing needs the architecture, not training
    (so inference and serving do not depend on the train part)."""
    from rpsdet.classes import CLASS_NAMES
    from rpsdet.model.checkpoint import save_checkpoint
    from rpsdet.model.factory import build_effdet

    cfg = train_config(s)
    path = work / "untrained.pt"
    model = build_effdet(cfg.arch, s.image_size, len(CLASS_NAMES), cfg.norm)
    save_checkpoint(
        path, model, {"arch": cfg.arch, "image_size": s.image_size, "norm": cfg.norm, "class_names": list(CLASS_NAMES)}
    )
    return path


def sample_jpegs(work: Path, count: int) -> list[bytes]:
    from rpsdet.data.synth import write_source

    write_source(work / "images", prefix="gpu", count=count, multi_fraction=0.4, seed=123, width=640, height=480)
    return [p.read_bytes() for p in sorted((work / "images" / "JPEGImages").glob("*.jpg"))]


def serve_params() -> dict[str, Any]:
    from rpsdet.params import load_params

    return load_params().get("serve") or {}


# ---------------------------------------------------------------- the parts


def part_inference(s: Sizes, work: Path, checks: Checks) -> dict[str, Any]:
    """End-to-end predict (letterbox, network, NMS, copy back) on the torch backend; predict returns host arrays,
    so each call is synchronised with the GPU."""
    import io

    import numpy as np
    from PIL import Image

    from rpsdet.model.device import set_threads
    from rpsdet.model.predict import Detector
    from rpsdet.serve.config import ServeConfig

    set_threads(0 if s.threads is None else s.threads)
    min_score = ServeConfig.from_params(serve_params()).min_score  # what a serving replica asks for
    arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in sample_jpegs(work, 8)]
    detector = Detector.from_checkpoint(untrained_checkpoint(work, s), s.device, "torch")
    checks.expect(
        "the detector's weights are on cuda", next(detector.bench.parameters()).device.type == "cuda", gpu_only=True
    )
    figures: dict[str, Any] = {"image_size": s.image_size, "min_score": min_score, "weights": "untrained (timing)"}
    for batch_size in s.infer_batches:
        batch = [arrays[i % len(arrays)] for i in range(batch_size)]
        for _ in range(s.infer_calls):  # warm-up: TorchScript profiling of the NMS code, cuDNN/cuBLAS set-up
            detector.predict(batch, min_score)
        times = []
        for _ in range(s.infer_calls):
            started = time.perf_counter()
            detector.predict(batch, min_score)
            times.append(time.perf_counter() - started)
        figures[f"batch{batch_size}_ms_per_image"] = round(1000 * statistics.median(times) / batch_size, 2)
    summary = ", ".join(f"batch {b}: {figures[f'batch{b}_ms_per_image']} ms/img" for b in s.infer_batches)
    return {"figures": figures, "summary": f"{s.image_size} px, {summary}"}


def part_train(s: Sizes, work: Path, checks: Checks) -> dict[str, Any]:
    from rpsdet.train.fit import fit
    from rpsdet.train.job import TrainJob

    splits = synthetic_splits(work, s)
    cfg = train_config(s)
    warm = replace(cfg, epochs=s.warmup_epochs, eval_every=s.warmup_epochs)
    fit(TrainJob(warm, splits / "train.json", splits / "val.json", work / "warmup.pt"))
    on_gpu = s.device == "cuda"
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    out = work / "model.pt"
    summary = fit(TrainJob(cfg, splits / "train.json", splits / "val.json", out))
    peak_mib = round(torch.cuda.max_memory_allocated() / 2**20, 1) if on_gpu else None
    checks.expect("trained on cuda", summary["device"].startswith("cuda"), gpu_only=True)
    checks.expect("peak GPU memory recorded", bool(peak_mib), gpu_only=True)
    checks.expect("a checkpoint was written", out.is_file())
    checks.expect("training steps were timed", summary["steps"] > 0 and summary["images_per_s"] > 0)
    figures = {
        "image_size": s.image_size,
        "batch_size": s.batch_size,
        "arch": cfg.arch,
        "norm": cfg.norm,
        "autocast": "bfloat16" if summary["device"].startswith("cuda") else "off (the loop uses it on CUDA)",
        "loader_workers": cfg.loader_workers,
        "steps": summary["steps"],
        "images_per_s": summary["images_per_s"],
        "train_seconds": summary["train_seconds"],
        "peak_memory_allocated_mib": peak_mib,
        "peak_over": "training steps and the final evaluation",
        "device": summary["device"],
    }
    peak = f"peak {peak_mib / 1024:.2f} GiB" if peak_mib else "peak memory: GPU only"
    return {
        "figures": figures,
        "summary": f"{s.image_size} px, batch {s.batch_size}, autocast {figures['autocast'].split()[0]}: "
        f"{summary['images_per_s']} images/s over {summary['steps']} steps, {peak}",
    }


def part_serve(s: Sizes, work: Path, checks: Checks) -> dict[str, Any]:
    from bench_serve import load  # the same load generator as bench/bench_serve.py
    from rpsdet.serve.auth import UserStore
    from rpsdet.serve.config import ServeConfig
    from rpsdet.serve.models import served_model

    checkpoint = untrained_checkpoint(work, s)
    images = sample_jpegs(work, s.serve_images)
    UserStore(work / "users.json").add("bench", PASSWORD)
    base = ServeConfig.from_params(serve_params())
    base = replace(
        base,
        num_gpus="auto",
        replicas=1,
        autoscaling=None,
        users_file=str(work / "users.json"),
        secret_file=str(work / "secret"),
        port=free_port(),
        limits=replace(base.limits, requests_per_minute=10**9, burst=10**9),
        threads_per_replica=base.threads_per_replica if s.threads is None else s.threads,
    )
    models = [served_model(checkpoint, "model", "gpu-check")]
    runs = {}
    for batch in s.serve_batch_sizes:
        # max_batch_size 1 is no batching at all: Ray would still wait batch_wait_timeout_s for a batch of one.
        cfg = replace(base, max_batch_size=batch, batch_wait_timeout_s=0.0 if batch == 1 else base.batch_wait_timeout_s)
        runs[batch] = serve_levels(models, cfg, images, s, load)
    top = max(s.serve_levels)
    gains = {
        f"batch{b}_over_batch1_at_{c}": round(rps(runs[b], c) / rps(runs[1], c), 2) if rps(runs[1], c) else None
        for b in s.serve_batch_sizes
        if b != 1
        for c in s.serve_levels
    }
    checks.expect(
        "serve.num_gpus auto resolved to 1 GPU per replica",
        all(run["num_gpus_resolved"] == 1.0 for run in runs.values()),
        gpu_only=True,
    )
    checks.expect(
        "Ray accounts 1 GPU to the serving replica",
        all(run["ray_gpus_in_use"] == 1.0 for run in runs.values()),
        gpu_only=True,
    )
    checks.expect(
        "GPU memory in use rose >= 100 MiB as the replica loaded",
        all((run["gpu_memory_rise_mib"] or 0) >= 100 for run in runs.values()),
        gpu_only=True,
    )
    errors = sum(row["errors"] for run in runs.values() for row in run["levels"])
    checks.expect("0 failed requests", errors == 0)
    figures = {
        "image_size": s.image_size,
        "duration_s_per_level": s.serve_duration_s,
        "batch_wait_timeout_s": base.batch_wait_timeout_s,
        "threads_per_replica": base.threads_per_replica,
        "runs": {f"max_batch_size_{b}": run for b, run in runs.items()},
        "batching_gain": gains,
        "errors": errors,
    }
    headline = ", ".join(
        f"batch {b}: {gains[f'batch{b}_over_batch1_at_{top}']}x" for b in s.serve_batch_sizes if b != 1
    )
    first = runs[s.serve_batch_sizes[0]]
    return {
        "figures": figures,
        "summary": f"replica on {first['replica_device']}; batching gain at concurrency {top}: {headline}",
    }


def serve_levels(
    models: list[ServedModel], cfg: ServeConfig, images: list[bytes], s: Sizes, load: Callable[..., dict]
) -> dict[str, Any]:
    """One deployment: where the replica runs (evidence read while it runs), then load at every concurrency."""
    import requests

    from rpsdet.serve.runner import gpus_per_replica, local_app

    on_gpu = s.device == "cuda"
    used_before = device_memory_used_mib() if on_gpu else None
    with local_app(models, cfg) as url:
        resolved = gpus_per_replica(cfg.num_gpus)
        held = ray_gpus_in_use(expected=cfg.replicas * resolved)
        used_after = device_memory_used_mib() if on_gpu else None
        rise = round(used_after - used_before, 1) if on_gpu else None
        token = requests.post(
            f"{url}/api/v1/login", json={"username": "bench", "password": PASSWORD}, timeout=30
        ).json()["token"]
        load(url, token, images, 1, 1.0)  # settle connections and caches; not recorded
        levels = [load(url, token, images, c, s.serve_duration_s) for c in s.serve_levels]
        largest = largest_batch(url, token, images, max(s.serve_levels))
    return {
        "num_gpus_resolved": resolved,
        "ray_gpus_in_use": held,
        "gpu_memory_rise_mib": rise,
        "replica_device": "cuda" if resolved else "cpu",
        "largest_batch_seen": largest,
        "levels": levels,
    }


def part_ray_train(s: Sizes, work: Path, checks: Checks) -> dict[str, Any]:
    from rpsdet.train.fit import fit
    from rpsdet.train.job import TrainJob

    os.environ.pop("RAY_ADDRESS", None)  # a private local Ray: the figures describe this machine
    # Evidence of the nccl process group: Ray's workers inherit this environment, and NCCL writes its log here.
    os.environ["NCCL_DEBUG"] = "INFO"
    os.environ["NCCL_DEBUG_FILE"] = str(work / "nccl.%h.%p.log")
    splits = synthetic_splits(work, s)
    use_gpu = s.device == "cuda"
    cfg = train_config(s, run_on="ray", ray_workers=1, use_gpu=use_gpu, epochs=s.ray_epochs, eval_every=s.ray_epochs)
    started = time.perf_counter()
    summary = fit(TrainJob(cfg, splits / "train.json", splits / "val.json", work / "ray_model.pt"))
    wall = round(time.perf_counter() - started, 1)
    nccl_logs = [p for p in work.glob("nccl.*.log") if "NCCL INFO" in p.read_text(errors="replace")]
    checks.expect("Ray Train ran with use_gpu", summary["use_gpu"] is True, gpu_only=True)
    checks.expect("the worker trained on cuda", summary["device"].startswith("cuda"), gpu_only=True)
    checks.expect("one worker", summary["world_size"] == 1 and len(summary["ranks"]) == 1)
    figures = {
        "image_size": s.image_size,
        "batch_size": s.batch_size,
        "num_workers": 1,
        "use_gpu": summary["use_gpu"],
        "device": summary["device"],
        "process_group": "nccl" if summary["use_gpu"] else "gloo",
        "process_group_source": "Ray Train's default for use_gpu (not read back from the worker)",
        "nccl_debug_log_written": bool(nccl_logs),
        "steps": summary["steps"],
        "images_per_s": summary["images_per_s"],
        "wall_s_with_ray_start_and_eval": wall,
    }
    return {
        "figures": figures,
        "summary": f"1 worker on {summary['device']}, use_gpu {summary['use_gpu']}, {figures['process_group']}"
        f"{' (NCCL log seen)' if nccl_logs else ''}: {summary['images_per_s']} images/s, {wall} s "
        f"with Ray start",
    }


PARTS: dict[str, Callable[[Sizes, Path, Checks], dict[str, Any]]] = {
    "inference": part_inference,
    "train": part_train,
    "serve": part_serve,
    "ray_train": part_ray_train,
}


# ---------------------------------------------------------------- small helpers of the serve part


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def device_memory_used_mib() -> float:
    """Memory in use on GPU 0 by every process (the replica is another process than this one)."""
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def ray_gpus_in_use(expected: float, wait_s: float = 10.0) -> float:
    """GPUs Ray has handed out on this cluster; resource views lag a moment behind a new actor."""
    import ray

    deadline = time.monotonic() + wait_s
    while True:
        in_use = ray.cluster_resources().get("GPU", 0.0) - ray.available_resources().get("GPU", 0.0)
        if in_use >= expected or time.monotonic() > deadline:
            return in_use
        time.sleep(0.2)


def rps(run: dict[str, Any], concurrency: int) -> float:
    return next(row["rps"] for row in run["levels"] if row["concurrency"] == concurrency)


def largest_batch(url: str, token: str, images: list[bytes], concurrency: int, rounds: int = 3) -> int | None:
    """The largest batch the model replica formed when `concurrency` requests arrived at once (None when the
    API does not report batch sizes)."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def one(i: int) -> int | None:
        r = requests.post(
            f"{url}/api/v1/detect",
            data=images[i % len(images)],
            timeout=60,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
        return r.json().get("batch_size") if r.status_code == 200 else None

    with ThreadPoolExecutor(concurrency) as pool:
        sizes = [b for _ in range(rounds) for b in pool.map(one, range(concurrency)) if b is not None]
    return max(sizes) if sizes else None


# ---------------------------------------------------------------- running parts in their own processes


def run_child(name: str, sizes: Sizes, work: Path, result_path: Path) -> None:
    """The child process: run one part and write its result (or its error) as JSON."""
    checks = Checks(on_gpu=sizes.device == "cuda")
    try:
        result = PARTS[name](sizes, work, checks)
    except BaseException as exc:  # KeyboardInterrupt too: the parent stopped us at the budget
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__}
    result["checks"] = checks.results
    result_path.write_text(json.dumps(result, default=str))


def run_part(command: list[str], result_path: Path, log_path: Path, budget_s: float) -> dict[str, Any]:
    """Run a part's process under its budget and return its result with ok, seconds and error (if any)."""
    started = time.monotonic()
    with open(log_path, "w") as log:
        # Its own session: stopping it reaches its DataLoader workers and Ray's head processes (Ray's workers
        # die with their raylet).
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=budget_s)
            over_budget = False
        except subprocess.TimeoutExpired:
            rc = stop(proc)
            over_budget = True
        except BaseException:  # Ctrl-C in this process: its own session does not get the terminal's signal
            stop(proc)
            raise
        finally:
            kill_group(proc.pid)  # anything of the part's still running (a Ray process slow to follow its driver)
    result: dict[str, Any] = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if over_budget:
        result["error"] = f"over its {budget_s:.0f} s budget: stopped" + (
            f" ({result['error']})" if result.get("error") else ""
        )
    elif "error" not in result and not result_path.is_file():
        result["error"] = f"the part's process exited with rc {rc} and no result"
    failed_checks = [what for what, verdict in result.get("checks", {}).items() if verdict == "FAIL"]
    if failed_checks and "error" not in result:
        result["error"] = "check failed: " + "; ".join(failed_checks)
    result["ok"] = "error" not in result
    result["seconds"] = round(time.monotonic() - started, 1)
    result["budget_s"] = round(budget_s, 1)
    if not result["ok"]:
        result["log_tail"] = log_path.read_text(errors="replace").splitlines()[-25:]
    return result


def stop(proc: subprocess.Popen) -> int:
    """SIGINT first (the part's finally blocks shut its Ray down), then SIGKILL to its whole process group after a
    grace period (Ray's own processes die with their driver)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        return proc.wait()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is already empty


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the check, or None when torch sees a CUDA GPU."""
    with warnings.catch_warnings(record=True) as caught:  # e.g. "the NVIDIA driver on your system is too old"
        warnings.simplefilter("always")
        if torch.cuda.is_available():
            return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    why = "; ".join(str(w.message).splitlines()[0] for w in caught) or "no NVIDIA driver or device found"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU: {why}" + (
        f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
    )


def gpu_info() -> dict[str, Any]:
    props = torch.cuda.get_device_properties(0)
    try:
        driver = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.TimeoutExpired):
        driver = None
    return {
        "name": props.name,
        "count": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / 2**30, 1),
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "driver": driver,
        "bf16": torch.cuda.is_bf16_supported(),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\n| part | result | seconds (budget) | figures |  ({result['mode']}, {result['machine']['device']})")
    print("|---|---|---|---|")
    for name, part in result["parts"].items():
        verdict = "pass" if part["ok"] else "FAIL"
        print(
            f"| {name} | {verdict} | {part['seconds']} ({part['budget_s']:.0f}) | "
            f"{part.get('summary', '') if part['ok'] else part['error']} |"
        )
    serve = result["parts"].get("serve", {}).get("figures")
    if serve:
        print("\n| serve max_batch_size | concurrency | requests/s | p50 ms | p99 ms | errors | largest batch seen |")
        print("|---|---|---|---|---|---|---|")
        for key, run in serve["runs"].items():
            for row in run["levels"]:
                print(
                    f"| {key.rsplit('_', 1)[1]} | {row['concurrency']} | {row['rps']} | {row['p50_ms']} | "
                    f"{row['p99_ms']} | {row['errors']} | {run['largest_batch_seen']} |"
                )
    not_run = sorted(
        {
            what
            for part in result["parts"].values()
            for what, verdict in part.get("checks", {}).items()
            if verdict == NOT_RUN
        }
    )
    if not_run:
        print(f"\nGPU-only checks not run on CPU: {'; '.join(not_run)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-dry-run", action="store_true", help="walk every part on CPU at tiny sizes")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    parser.add_argument("--out", default=None, help=f"default {DEFAULT_OUT}; a dry run: a temporary file")
    parser.add_argument("--child", choices=list(PARTS), help=argparse.SUPPRESS)  # internal: run one part
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = dry_run_sizes() if args.cpu_dry_run else gpu_sizes()
    if args.child:
        run_child(args.child, sizes, args.work, args.work / "result.json")
        return 0
    if not args.cpu_dry_run:
        reason = no_gpu_reason()
        if reason:
            print(f"gpu-check skipped: {reason}; nothing written (it runs on a machine with a CUDA GPU)")
            return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown parts {unknown}; known: {list(PARTS)}")

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped from outside: stop the running part too
    default_out = Path(tempfile.gettempdir()) / "rpsdet_gpu_check_dry_run.json" if args.cpu_dry_run else DEFAULT_OUT
    out = Path(args.out or default_out)
    result = run_parts(parts, sizes, args.cpu_dry_run, out)
    print_table(result)
    print(
        f"\n{'all parts passed' if result['all_passed'] else 'SOME PARTS FAILED'} in {result['total_seconds']} s "
        f"-> {out}"
    )
    return 0 if result["all_passed"] else 1


def run_parts(parts: list[str], sizes: Sizes, dry_run: bool, out: Path) -> dict[str, Any]:
    """Each part in its own process, one after the other; `out` is rewritten after every part, so a later crash
    keeps what was measured."""
    machine = machine_info()
    if not dry_run:
        machine["gpu"] = gpu_info()
    result: dict[str, Any] = {
        "mode": "cpu dry run" if dry_run else "gpu",
        "machine": machine,
        "sizes": asdict(sizes),
        "parts": {},
    }
    work_root = Path(tempfile.mkdtemp(prefix="rpsdet-gpu-check-"))
    started = time.monotonic()
    try:
        for name in parts:
            budget = sizes.budgets_s[name]
            if not dry_run:
                budget = min(budget, TOTAL_LIMIT_S - STOP_GRACE_S - (time.monotonic() - started))
            work = work_root / name
            work.mkdir()
            command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--work", str(work)]
            command += ["--cpu-dry-run"] if dry_run else []
            if budget < MIN_PART_S:
                part = {
                    "ok": False,
                    "error": f"not started: {max(budget, 0):.0f} s left in the 8-minute limit",
                    "seconds": 0.0,
                    "budget_s": round(max(budget, 0), 1),
                }
            else:
                part = run_part(command, work / "result.json", work / "log.txt", budget)
            result["parts"][name] = part
            print(f"gpu-check: {name} {'pass' if part['ok'] else 'FAIL'} in {part['seconds']} s", flush=True)
            result["all_passed"] = all(p["ok"] for p in result["parts"].values())
            result["total_seconds"] = round(time.monotonic() - started, 1)
            write_json(out, result)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
