"""Start (or join) Ray, deploy the app on Serve, and take it all down again."""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rpsdet.ray_cluster import cluster_address, start_ray
from rpsdet.serve.auth import load_or_create_secret
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.models import ServedModel

APP_NAME = "rpsdet"


def gpus_per_replica(setting: str | float) -> float:
    """'auto' = one GPU per replica when the cluster has any, else CPU."""
    import ray

    if setting == "auto":
        return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    return float(setting)


# Environment of every serving replica. Ray exports OMP_NUM_THREADS=<num_cpus> (1) into a replica, which slows its
# oneDNN convolutions even after torch.set_num_threads, so the thread count is given from the start. OpenMP threads
# that spin while waiting for work take CPU from the HTTP proxy on a small machine: they sleep instead (on 2 loaded
# cores an in-process predict took 60-69 ms with PASSIVE, 112-120 ms without).
REPLICA_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
# The request path, proxy and replica alike (Serve reads these when its processes start): the proxy sends requests to
# the replica over gRPC instead of Ray actor calls and routes them on its own event loop, not a second one in another
# thread. Measured at concurrency 1, runs alternating: HTTP p50 minus the model time 20-27 ms with Serve's defaults,
# 15-18 ms with these. Part of Ray's RAY_SERVE_THROUGHPUT_OPTIMIZED set, without its HAProxy front (it hides the
# client address that login limits key on), buffered logs, or our code on the replica's main loop (there, concurrent
# requests for two versions stopped forming batches: tests/test_serve_api.py). README, "Serving overhead".
FAST_PATH_ENV = {
    "RAY_SERVE_PROXY_USE_GRPC": "1",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
}
# The HTTP proxy prefers replicas on its own node. With one proxy (HeadOnly) and an async ingress that accepts
# hundreds of requests at once, that sends everything to the head node's replica: spread over all replicas instead.
PROXY_ENV = {"RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0", **FAST_PATH_ENV}


def build_app(models: list[ServedModel], cfg: ServeConfig, num_gpus: float, secret: bytes):
    from rpsdet.serve.app import Ingress

    scaling = {"autoscaling_config": cfg.autoscaling} if cfg.autoscaling else {"num_replicas": cfg.replicas}
    env = {**REPLICA_ENV, **FAST_PATH_ENV, "OMP_NUM_THREADS": str(cfg.threads_per_replica)}
    # The ingress is async: a high max_ongoing_requests lets waiting logins and uploads share it without
    # queueing /detect behind them (Serve's default is 5 per replica); the model runs one batch at a time inside.
    return Ingress.options(
        **scaling,
        max_ongoing_requests=cfg.ingress_max_ongoing_requests,
        ray_actor_options={"num_cpus": cfg.cpus_per_replica, "num_gpus": num_gpus, "runtime_env": {"env_vars": env}},
    ).bind(models, cfg, secret, "cuda" if num_gpus > 0 else "cpu", cfg.batch_size(num_gpus))


def http_options(cfg: ServeConfig) -> dict[str, Any]:
    """Serve's HTTP proxy: where it listens and how long any request may run."""
    return {"host": cfg.host, "port": cfg.port, "request_timeout_s": cfg.request_timeout_s}


def deploy(models: list[ServedModel], cfg: ServeConfig) -> str:
    """Serve the app on cfg.host:cfg.port; returns the base URL once every replica holds every version, warm."""
    from ray import serve

    if not models:
        raise ValueError("nothing to serve: give at least one model version")
    serve.start(
        proxy_location=cfg.proxy_location,
        http_options=http_options(cfg),
        controller_options={"runtime_env": {"env_vars": PROXY_ENV}},
    )  # proxies inherit the controller's
    secret = load_or_create_secret(Path(cfg.secret_file))
    serve.run(build_app(models, cfg, gpus_per_replica(cfg.num_gpus), secret), name=APP_NAME, route_prefix="/")
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
def local_app(models: list[ServedModel], cfg: ServeConfig, num_cpus: int | None = None) -> Iterator[str]:
    """A private loopback Ray + the app, for tests and benchmarks; everything is gone afterwards."""
    temp_dir = start_ray(num_cpus=num_cpus)
    try:
        yield deploy(models, cfg)
    finally:
        shutdown(joined_cluster=False)
        shutil.rmtree(temp_dir, ignore_errors=True)


def serve_until_interrupted(models: list[ServedModel], cfg: ServeConfig, address: str | None = None) -> None:
    """Blocking `rpsdet serve`: Ctrl-C or SIGTERM shuts down cleanly."""
    address = cluster_address(address)
    temp_dir = start_ray(address)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        url = deploy(models, cfg)
        served = ", ".join(f"{m.name} {m.version}" + (f" ({m.stage})" if m.stage else "") for m in models)
        print(f"serving {served} at {url}/  (API docs: {url}/docs). Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        print("shutting down...", flush=True)
        shutdown(joined_cluster=temp_dir is None)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
