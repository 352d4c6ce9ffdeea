"""The one Serve deployment: login, auth, limits, the JSON API, the phone page and the model versions themselves.

The replica that checks a request also runs the model (no second deployment, no handle hop). Every refusal comes
first: an unauthenticated, oversized, mistyped, undecodable, over-rate or unknown-version request never runs a
model. (No `from __future__ import annotations` here: FastAPI must see real types on the ingress methods, which
Serve rebinds outside this module's namespace.)
"""

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from ray import serve
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rpsdet.model.device import set_threads
from rpsdet.model.predict import Detection, Detector
from rpsdet.serve.auth import MAX_NAME, MAX_PASSWORD, AuthError, LoginGuard, TokenSigner, UserStore
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.limits import DecodedImage, RateLimiter, Refused, check_content_type, decode_image, pillow_formats
from rpsdet.serve.models import ServedModel

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
WEB_ASSETS = {"index.html", "app.js", "style.css"}
LOGIN_BODY_BYTES = 4096  # a login is two short strings: a bigger body is refused before it is parsed
# The page loads only its own script and style files and talks only to this origin; no page may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: "
    "data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

log = logging.getLogger("ray.serve")
api = FastAPI(
    title="rpsdet",
    version="1",
    description="Rock / paper / scissors hand detection. Log in at "
    "`POST /api/v1/login`, then send `Authorization: Bearer <token>`.",
)
bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/login")


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_NAME)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response. Plain ASGI rather than `@api.middleware("http")`: Starlette's
    BaseHTTPMiddleware passes every request and response through extra tasks and streams, which cost 1.5 ms of a
    /detect request's serving overhead on 2 cores (median of six alternating runs; README, "Serving overhead")."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


api.add_middleware(SecurityHeaders)


@api.exception_handler(Refused)
async def _refused(_: Request, exc: Refused) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, exc.status, exc.headers)


@api.exception_handler(AuthError)
async def _unauthorized(_: Request, exc: AuthError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, 401, {"WWW-Authenticate": "Bearer"})


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes `max_bytes` (a lying Content-Length does not help)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(413, f"body of {declared} bytes is over the limit of {max_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(413, f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def image_from_body(request: Request, body: bytes, allowed: tuple[str, ...]) -> bytes:
    """A raw image body, or the first file part of a multipart form."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        check_content_type(content_type, allowed)
        return body

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=4)
    except Exception as exc:  # starlette raises several types for a malformed form
        raise Refused(400, f"malformed multipart form: {exc}") from None
    files = [v for v in form.values() if isinstance(v, UploadFile)]
    if not files:
        raise Refused(400, "multipart form has no file part: send the image as a file field")
    check_content_type(files[0].content_type, allowed)
    return await files[0].read()


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The caller's address; behind a trusted proxy, the address that proxy saw (the last X-Forwarded-For entry,
    the one it appended: earlier entries are whatever the client sent)."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "")
    if peer in trusted_proxies and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return peer


def load_detector(model: ServedModel, device: str, backend: str, batch_sizes: tuple[int, ...]) -> Detector:
    """The network, warmed up: first calls are ~10x slower (TorchScript profiling of the NMS code, ONNX Runtime's
    first run), so they are paid for before the first user does."""
    detector = Detector.from_checkpoint(Path(model.checkpoint), device, backend)
    image = np.zeros((detector.image_size, detector.image_size, 3), np.uint8)
    for size in sorted(set(batch_sizes)):
        for _ in range(2):
            detector.predict([image] * size)
    return detector


@serve.deployment(name="ingress")
@serve.ingress(api)
class Ingress:
    """One hop: the replica that checks a request also holds every served model version and runs it."""

    async def __init__(
        self, models: list[ServedModel], config: ServeConfig, secret: bytes, device: str, max_batch_size: int
    ):
        self.cfg = config
        self.limits = config.limits
        self.users = UserStore(Path(config.users_file))
        self.signer = TokenSigner(secret, config.token_ttl_s)
        # Rate and lockout state lives in this replica's memory: with several replicas each keeps its own (README).
        self.guard = LoginGuard(self.limits.login_failures_before_lockout, self.limits.lockout_s)
        self.rate = RateLimiter(self.limits.requests_per_minute, self.limits.burst)
        self.login_rate = RateLimiter(self.limits.logins_per_minute, self.limits.logins_per_minute)
        self.password_checks = asyncio.Semaphore(1)  # scrypt one at a time: logins cannot take the model's CPU
        self.decodes = asyncio.Semaphore(self.limits.concurrent_decodes)
        self.formats = pillow_formats(self.limits.content_types)
        self.models = {m.model_id: m for m in models}
        self.default_id = models[0].model_id
        self.device = device
        self.threads = set_threads(config.threads_per_replica)  # Ray gives a num_cpus=1 replica 1 thread otherwise
        self.max_batch_size = max_batch_size
        self.forward = asyncio.Lock()  # unbatched: one forward pass at a time, it already uses every thread
        self._batched.set_max_batch_size(max_batch_size)
        self._batched.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        # Which replica on which Ray node answered: lets users (and the cluster test) see the load spread.
        self.replica = {
            "id": serve.get_replica_context().replica_id.unique_id,
            "node": ray.get_runtime_context().get_node_id(),
        }
        for model_id in self.models:  # every version loaded and warm before the replica takes traffic
            await self.detector(model_id)

    @serve.multiplexed(max_num_models_per_replica=-1)  # only served ids get here (others are 404): all stay loaded
    async def detector(self, model_id: str) -> Detector:
        return await asyncio.to_thread(
            load_detector, self.models[model_id], self.device, self.cfg.backend, (1, self.max_batch_size)
        )

    def _user(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        if credentials is None or not credentials.credentials:
            raise AuthError("not logged in: send Authorization: Bearer <token> from POST /api/v1/login")
        return self.signer.verify(credentials.credentials.strip(), current_fingerprint=self.users.fingerprint)

    def _model(self, asked: str | None) -> ServedModel:
        """The version a request asked for (`?model=`, else the serve-multiplexed-model-id header), else the first
        served one. Called only after the token is checked: a stranger learns nothing about what is served."""
        model_id = asked or serve.get_multiplexed_model_id() or self.default_id
        if model_id not in self.models:
            raise Refused(
                404, f"model {model_id!r} is not served here; served: {', '.join(self.models)} (GET /api/v1/models)"
            )
        return self.models[model_id]

    async def _predict(self, detector: Detector, pixels: np.ndarray) -> tuple[list[Detection], float, int]:
        """(detections, model ms, batch size); batched across requests when max_batch_size > 1."""
        if self.max_batch_size > 1:
            return await self._batched((detector, pixels))
        async with self.forward:
            started = time.perf_counter()
            detections = await asyncio.to_thread(detector.predict, [pixels], self.cfg.min_score)
            return detections[0], 1000 * (time.perf_counter() - started), 1

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)  # real values come from params in __init__
    async def _batched(self, items: list[tuple[Detector, np.ndarray]]) -> list[tuple[list[Detection], float, int]]:
        """One forward pass per model version in the batch, in a worker thread so the next batch keeps queueing."""
        groups: dict[int, list[int]] = {}
        for i, (detector, _) in enumerate(items):
            groups.setdefault(id(detector), []).append(i)
        out: list[tuple[list[Detection], float, int]] = [([], 0.0, 0)] * len(items)
        for indices in groups.values():
            started = time.perf_counter()
            results = await asyncio.to_thread(
                items[indices[0]][0].predict, [items[i][1] for i in indices], self.cfg.min_score
            )
            model_ms = 1000 * (time.perf_counter() - started)
            for i, detections in zip(indices, results):
                out[i] = (detections, model_ms, len(indices))
        return out

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness of the replica (does not run a model); the default version."""
        return {"status": "ok", "model_version": self.default_id}

    @api.post(
        "/api/v1/login",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": Login.model_json_schema()}}}
        },
    )
    async def login(self, request: Request) -> dict[str, Any]:
        """JSON {username, password} -> a bearer token. Limits: `logins_per_minute` per client address, and
        `login_failures_before_lockout` wrong passwords lock that name for that address only."""
        address = client_address(request, self.cfg.trusted_proxies)
        self.login_rate.take(address)
        try:
            body = Login.model_validate_json(await read_body(request, LOGIN_BODY_BYTES))
        except ValidationError:
            raise Refused(
                400,
                f'send JSON {{"username": ..., "password": ...}}: a name of 1-{MAX_NAME} and a '
                f"password of 1-{MAX_PASSWORD} characters",
            ) from None
        key = (body.username, address)
        wait = self.guard.retry_after(key)
        if wait > 0:
            raise Refused(
                429,
                f"too many failed logins for {body.username!r}: try again in {wait:.0f} s",
                {"Retry-After": str(int(wait) + 1)},
            )
        async with self.password_checks:
            ok = await asyncio.to_thread(self.users.check, body.username, body.password)
        if not ok:
            self.guard.failed(key)
            locked = self.guard.retry_after(key) > 0
            log.warning("failed login for %r from %s%s", body.username, address, "; locked" if locked else "")
            await asyncio.sleep(self.limits.failed_login_delay_s)  # waits without a thread or a model slot
            raise AuthError("wrong user name or password")
        self.guard.succeeded(key)
        token, expires = self.signer.issue(body.username, fingerprint=self.users.fingerprint(body.username) or "")
        log.info("login %r from %s", body.username, address)
        return {"token": token, "token_type": "bearer", "expires_at": expires, "user": body.username}

    @api.get("/api/v1/models")
    async def models_served(self, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict[str, Any]:
        """Every served version, the default (used when a request names none) first."""
        self._user(credentials)
        return {"models": [m.public() for m in self.models.values()], "default": self.default_id}

    @api.post("/api/v1/detect")
    async def detect(
        self,
        request: Request,
        score_threshold: float | None = None,
        model: str | None = Query(
            None,
            max_length=64,
            description="a served version, e.g. v0.1.0 "
            "(or header serve-multiplexed-model-id); default: the first served",
        ),
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> dict[str, Any]:
        """Send an image as the raw body (Content-Type image/jpeg, ...) or as a multipart file field."""
        started = time.perf_counter()
        user = self._user(credentials)
        self.rate.take(user)
        served = self._model(model)
        body = await read_body(request, self.limits.max_body_bytes)
        data = await image_from_body(request, body, self.limits.content_types)
        async with self.decodes:  # bounds decode memory per ingress replica
            image: DecodedImage = await asyncio.to_thread(
                decode_image, data, self.limits.max_pixels, self.limits.max_side, self.formats
            )
        found, model_ms, batch_size = await self._predict(await self.detector(served.model_id), image.pixels)
        threshold = self.cfg.score_threshold if score_threshold is None else score_threshold
        detections = [
            {
                "box": [round(v / image.scale, 1) for v in d.box],
                "label": served.class_names[d.label],
                "class_id": d.label,
                "score": round(d.score, 4),
            }
            for d in found
            if d.score >= threshold
        ]
        return {
            "detections": detections,
            "image": {"width": image.width, "height": image.height},
            "model": {"name": served.name, "version": served.version},
            "score_threshold": threshold,
            "batch_size": batch_size,
            "model_ms": round(model_ms, 1),
            "replica": self.replica,
            "server_ms": round(1000 * (time.perf_counter() - started), 1),
        }

    @api.get("/", include_in_schema=False)
    async def page(self) -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    @api.get("/{asset}", include_in_schema=False)
    async def asset(self, asset: str) -> FileResponse:
        """Only the page's own files: nothing else on disk is reachable (Serve's ingress drops mounts)."""
        if asset not in WEB_ASSETS:
            raise Refused(404, f"not found: /{asset}")
        return FileResponse(WEB_DIR / asset)
