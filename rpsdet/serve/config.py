"""params.yaml `serve:` as typed settings, checked once so a typo fails at start, not at the first request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from rpsdet.model.predict import BACKENDS


@dataclass(frozen=True)
class Limits:
    """What the ingress refuses before any model work (see README, Publish and serve)."""

    max_body_bytes: int = 10 * 2**20  # 413 above this
    # 400 above this, from the header alone (decompression bombs). The phone page sends <= 1280 px; 16 Mpx still
    # takes a 12-16 Mpx camera original sent with curl.
    max_pixels: int = 16_000_000
    max_side: int = 1024  # decoded images are shrunk to this longest side before they travel to the model
    content_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/bmp")
    concurrent_decodes: int = 2  # per ingress replica: bounds decode memory (the rest wait their turn)
    requests_per_minute: int = 120  # per user, token bucket
    burst: int = 20
    logins_per_minute: int = 20  # per client address, every login attempt counts (429 beyond)
    login_failures_before_lockout: int = 5  # per (user name, client address)
    lockout_s: float = 60.0
    failed_login_delay_s: float = 0.5  # every wrong password costs the caller this long (an async wait)


PROXY_LOCATIONS = ("HeadOnly", "EveryNode")
HTTP_PROXIES = ("serve", "haproxy")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# On 2 CPU cores a batch of 4 ran at 0.8x the throughput of no batching (the cores are already busy with one
# image); a GPU runs a batch of 8 in about the time of one.
AUTO_BATCH_CPU = 1
AUTO_BATCH_GPU = 8


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    num_gpus: str | float = "auto"  # "auto" = one GPU per replica when the cluster has GPUs, else CPU
    threads_per_replica: int = 2  # Ray sets OMP_NUM_THREADS=1 for num_cpus=1: choose on purpose
    cpus_per_replica: float = 1.0
    # @serve.batch in the ingress; "auto" = AUTO_BATCH_CPU without a GPU, AUTO_BATCH_GPU with one (measured)
    max_batch_size: int | str = "auto"
    batch_wait_timeout_s: float = 0.002
    score_threshold: float = 0.4  # default for /detect; a request may ask for another
    min_score: float = 0.05  # the model returns nothing below this, whatever a request asks
    backend: str = "auto"  # inference: auto (ONNX Runtime on CPU when it exports a matching network) | torch | onnx
    token_ttl_s: int = 3600
    users_file: str = ".rpsdet/users.json"
    secret_file: str = ".rpsdet/token_secret"
    # HeadOnly: one HTTP entry point, on the head node. EveryNode: a proxy on every node (put a load balancer in
    # front); on one machine several nodes would fight over the same port.
    proxy_location: str = "HeadOnly"
    autoscaling: dict[str, Any] | None = None  # Ray Serve autoscaling_config; replaces `replicas` when set
    request_timeout_s: float = 30.0  # Serve's HTTP proxy ends any request still running after this (408)
    ingress_max_ongoing_requests: int = 256  # async ingress: slow logins and uploads must not queue /detect
    # Client addresses whose X-Forwarded-For header is believed (a TLS proxy on this machine: 127.0.0.1);
    # login limits and lockouts key on the address the proxy saw.
    trusted_proxies: tuple[str, ...] = ()
    # What takes HTTP requests in: "serve" = Ray Serve's Python proxy, which hands them to the replica; "haproxy" =
    # Ray's HAProxy front, which sends them straight to the replica's own HTTP server (README, "Serving overhead").
    # HAProxy does not pass the client's address on, so it listens on loopback only (a TLS proxy in front for phones).
    http_proxy: str = "serve"
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> ServeConfig:
        params = dict(params or {})
        _check_keys("serve", params, cls)
        limits = dict(params.pop("limits", None) or {})
        _check_keys("serve.limits", limits, Limits)
        if "content_types" in limits:
            limits["content_types"] = tuple(limits["content_types"])
        if "trusted_proxies" in params:
            params["trusted_proxies"] = tuple(params["trusted_proxies"] or ())
        cfg = cls(**params, limits=Limits(**limits))
        if cfg.max_batch_size != "auto" and (not isinstance(cfg.max_batch_size, int) or cfg.max_batch_size < 1):
            raise ValueError(f"serve.max_batch_size must be 'auto' or an integer >= 1, got {cfg.max_batch_size!r}")
        if (
            min(
                cfg.replicas,
                cfg.threads_per_replica,
                cfg.ingress_max_ongoing_requests,
                cfg.limits.concurrent_decodes,
                cfg.limits.logins_per_minute,
            )
            < 1
        ):
            raise ValueError(
                "serve.replicas, threads_per_replica, ingress_max_ongoing_requests, "
                "limits.concurrent_decodes and limits.logins_per_minute must be >= 1"
            )
        if cfg.request_timeout_s <= 0:
            raise ValueError(f"serve.request_timeout_s must be > 0, got {cfg.request_timeout_s!r}")
        if cfg.backend not in BACKENDS:
            raise ValueError(f"serve.backend must be one of {BACKENDS}, got {cfg.backend!r}")
        if cfg.proxy_location not in PROXY_LOCATIONS:
            raise ValueError(f"serve.proxy_location must be one of {PROXY_LOCATIONS}, got {cfg.proxy_location!r}")
        if cfg.num_gpus != "auto" and not isinstance(cfg.num_gpus, (int, float)):
            raise ValueError(f"serve.num_gpus must be 'auto' or a number, got {cfg.num_gpus!r}")
        if cfg.http_proxy not in HTTP_PROXIES:
            raise ValueError(f"serve.http_proxy must be one of {HTTP_PROXIES}, got {cfg.http_proxy!r}")
        if cfg.http_proxy == "haproxy" and cfg.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"serve.http_proxy: haproxy cannot listen on {cfg.host!r}: HAProxy passes requests on without the "
                "client's address, so every caller on the network would share one address in the login limits and "
                "lockouts. Keep serve.host: 127.0.0.1 and put the TLS proxy in front for phones (README, 'TLS for "
                "phones'), or use http_proxy: serve"
            )
        return cfg

    def batch_size(self, num_gpus: float) -> int:
        """max_batch_size with "auto" resolved for replicas holding `num_gpus` GPUs each."""
        if self.max_batch_size == "auto":
            return AUTO_BATCH_GPU if num_gpus > 0 else AUTO_BATCH_CPU
        return int(self.max_batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_keys(section: str, given: dict[str, Any], cls: type) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"unknown {section} params {unknown}; known: {sorted(known)}")
