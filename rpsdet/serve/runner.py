"""Start (or join) Ray, deploy the app on Serve, and take it all down again."""

from __future__ import annotations

import math
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


HAPROXY_DIR = "h"  # under our own cluster's temp dir


def haproxy_env(cfg: ServeConfig, private_dir: Path | None) -> dict[str, str]:
    """serve.http_proxy: haproxy, for the controller (which runs HAProxy instead of the Python proxy) and the
    replicas (which then serve HTTP themselves); empty for the Python proxy."""
    if cfg.http_proxy != "haproxy":
        return {}
    env = {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        # HAProxy's default 4 threads took the model's cores on 2 (60 ms model time vs 31 ms with one thread); one
        # HAProxy thread moves far more requests than a CPU replica answers.
        "RAY_SERVE_HAPROXY_NBTHREAD": "1",
        "RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S": str(math.ceil(cfg.request_timeout_s)),
    }
    if private_dir is not None:
        # Ray's defaults are under /tmp/haproxy-serve, where anyone on the machine reaches the admin socket (mode
        # 666): deploy() makes this directory 0700. Short names: Ray adds a 56-character directory, and HAProxy
        # takes socket paths of up to 97.
        files = private_dir / HAPROXY_DIR
        env |= {
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(files / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(files / "a.sock"),
            "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(files / "m.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(files),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(files / "server-state"),
        }
    return env


def build_app(models: list[ServedModel], cfg: ServeConfig, num_gpus: float, secret: bytes, front: dict[str, str]):
    from rpsdet.serve.app import Ingress

    scaling = {"autoscaling_config": cfg.autoscaling} if cfg.autoscaling else {"num_replicas": cfg.replicas}
    env = {**REPLICA_ENV, **FAST_PATH_ENV, **front, "OMP_NUM_THREADS": str(cfg.threads_per_replica)}
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


def deploy(models: list[ServedModel], cfg: ServeConfig, private_dir: Path | None = None) -> str:
    """Serve the app on cfg.host:cfg.port; returns the base URL once every replica holds every version, warm.
    `private_dir`: our own cluster's temp dir, where HAProxy's files go (None on a joined cluster: Ray's defaults)."""
    from ray import serve

    if not models:
        raise ValueError("nothing to serve: give at least one model version")
    front = haproxy_env(cfg, private_dir)
    if front and private_dir is not None:
        (private_dir / HAPROXY_DIR).mkdir(mode=0o700, exist_ok=True)  # Ray's temp dir itself is mode 777
    serve.start(
        proxy_location=cfg.proxy_location,
        http_options=http_options(cfg),
        controller_options={"runtime_env": {"env_vars": {**PROXY_ENV, **front}}},
    )  # proxies (or HAProxy's manager) inherit the controller's
    secret = load_or_create_secret(Path(cfg.secret_file))
    app = build_app(models, cfg, gpus_per_replica(cfg.num_gpus), secret, front)
    serve.run(app, name=APP_NAME, route_prefix="/")
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
        yield deploy(models, cfg, temp_dir)
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
        url = deploy(models, cfg, temp_dir)
        served = ", ".join(f"{m.name} {m.version}" + (f" ({m.stage})" if m.stage else "") for m in models)
        print(f"serving {served} at {url}/  (API docs: {url}/docs). Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        print("shutting down...", flush=True)
        shutdown(joined_cluster=temp_dir is None)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
