"""Start (or join) Ray, deploy the app on Serve, and take it all down again."""
from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rpsdet.model.checkpoint import read_checkpoint
from rpsdet.ray_cluster import cluster_address, start_ray
from rpsdet.serve.auth import load_or_create_secret
from rpsdet.serve.config import ServeConfig

APP_NAME = "rpsdet"


def gpus_per_replica(setting: str | float) -> float:
    """'auto' = one GPU per replica when the cluster has any, else CPU."""
    import ray

    if setting == "auto":
        return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    return float(setting)


def checkpoint_info(path: Path, name: str, version: str, stage: str | None) -> dict[str, Any]:
    """What /api/v1/models tells users, read from the checkpoint's own config (no model is built)."""
    cfg = read_checkpoint(path)["config"]  # weights_only: a pickle payload is refused, never run
    return {"name": name, "version": version, "stage": stage, "arch": cfg.get("arch"),
            "image_size": cfg.get("image_size"), "class_names": list(cfg["class_names"])}


def build_app(checkpoint: Path, info: dict[str, Any], cfg: ServeConfig, num_gpus: float, secret: bytes):
    from rpsdet.serve.app import Ingress
    from rpsdet.serve.model_server import ModelServer

    scaling = ({"autoscaling_config": cfg.autoscaling} if cfg.autoscaling else {"num_replicas": cfg.replicas})
    model = ModelServer.options(
        **scaling,
        max_ongoing_requests=max(8, 2 * cfg.max_batch_size),  # a replica must accept a full batch at once
        # Ray exports OMP_NUM_THREADS=<num_cpus> (1) into a replica, which slows its oneDNN convolutions even after
        # torch.set_num_threads: give the replica its thread count in its environment from the start.
        ray_actor_options={"num_cpus": cfg.cpus_per_replica, "num_gpus": num_gpus,
                           "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(cfg.threads_per_replica)}}},
    ).bind(str(Path(checkpoint).resolve()), info, cfg.threads_per_replica, "cuda" if num_gpus > 0 else "cpu",
           cfg.max_batch_size, cfg.batch_wait_timeout_s, cfg.min_score, cfg.backend)
    # The ingress is async: a high max_ongoing_requests lets waiting logins and uploads share it without
    # queueing /detect behind them (Serve's default is 5 per replica).
    return Ingress.options(max_ongoing_requests=cfg.ingress_max_ongoing_requests,
                           ray_actor_options={"num_cpus": 0.1}).bind(model, cfg, secret, info)


def http_options(cfg: ServeConfig) -> dict[str, Any]:
    """Serve's HTTP proxy: where it listens and how long any request may run."""
    return {"host": cfg.host, "port": cfg.port, "request_timeout_s": cfg.request_timeout_s}


def deploy(checkpoint: Path, info: dict[str, Any], cfg: ServeConfig) -> str:
    """Serve the app on cfg.host:cfg.port; returns the base URL once every replica is warm."""
    from ray import serve

    serve.start(proxy_location=cfg.proxy_location, http_options=http_options(cfg))
    secret = load_or_create_secret(Path(cfg.secret_file))
    serve.run(build_app(checkpoint, info, cfg, gpus_per_replica(cfg.num_gpus), secret), name=APP_NAME,
              route_prefix="/")
    return f"http://{cfg.host}:{cfg.port}"


def shutdown(joined_cluster: bool) -> None:
    """Remove our app; on our own private cluster also stop Serve and Ray (no processes stay behind)."""
    import ray
    from ray import serve

    if joined_cluster:
        serve.delete(APP_NAME)
    else:
        serve.shutdown()
    ray.shutdown()


@contextmanager
def local_app(checkpoint: Path, info: dict[str, Any], cfg: ServeConfig, num_cpus: int | None = None) -> Iterator[str]:
    """A private loopback Ray + the app, for tests and benchmarks; everything is gone afterwards."""
    temp_dir = start_ray(num_cpus=num_cpus)
    try:
        yield deploy(checkpoint, info, cfg)
    finally:
        shutdown(joined_cluster=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


def serve_until_interrupted(checkpoint: Path, info: dict[str, Any], cfg: ServeConfig,
                            address: str | None = None) -> None:
    """Blocking `rpsdet serve`: Ctrl-C or SIGTERM shuts down cleanly."""
    address = cluster_address(address)
    temp_dir = start_ray(address)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        url = deploy(checkpoint, info, cfg)
        print(f"serving {info['name']} {info['version']} at {url}/  (API docs: {url}/docs). Ctrl-C stops.",
              flush=True)
        stop.wait()
    finally:
        print("shutting down...", flush=True)
        shutdown(joined_cluster=temp_dir is None)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
