"""Join a Ray cluster or start a private loopback one: shared by training (Ray Train) and serving (Ray Serve)."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import torch

# Serve's proxy gets 5 s to report ready and 10 s per health check by default. On 2 cores busy with training that
# is too short: a slow-starting proxy is killed as unhealthy and `serve.run` fails ("Proxy actor reported not ready").
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "60",
}


def cluster_address(address: str | None = None) -> str | None:
    """The cluster to join: `address`, else $RAY_ADDRESS (as `ray.init` itself reads it), else None = start one."""
    return address or os.environ.get("RAY_ADDRESS") or None


def start_ray(address: str | None = None, num_cpus: int | None = None) -> Path | None:
    """Join the cluster at `address`, or start a private loopback one (no dashboard) when it is None.

    Returns the private cluster's temp dir (delete it after `ray.shutdown()`), or None when a cluster was joined.
    """
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    import ray

    if address:
        ray.init(address=address)
        return None
    temp_dir = Path(tempfile.mkdtemp(prefix="rpsdet-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    if "RAY_AUTH_TOKEN_PATH" not in os.environ and "RAY_AUTH_TOKEN" not in os.environ:
        # Ray's cluster token, inherited by its processes and never written to ~/.ray. One per process, not per
        # cluster: Ray caches the first token it reads, so a later private cluster must reuse it.
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray.init(
        num_cpus=num_cpus or len(os.sched_getaffinity(0)),
        num_gpus=torch.cuda.device_count(),
        include_dashboard=False,
        object_store_memory=512 * 2**20,
        _temp_dir=str(temp_dir),
        _node_ip_address="127.0.0.1",
        configure_logging=False,
    )
    return temp_dir
