"""The HTTP ingress: login, auth, limits, the JSON API and the phone page, all in one FastAPI app.

Every refusal happens here, before the model deployment sees a request: an unauthenticated, oversized,
mistyped, undecodable or over-rate request never runs the model. (No `from __future__ import annotations` here:
FastAPI must see real types on the ingress methods, which Serve rebinds outside this module's namespace.)
"""
import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.datastructures import UploadFile

from rpsdet.serve.auth import MAX_NAME, MAX_PASSWORD, AuthError, LoginGuard, TokenSigner, UserStore
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.limits import DecodedImage, RateLimiter, Refused, check_content_type, decode_image, pillow_formats

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
api = FastAPI(title="rpsdet", version="1", description="Rock / paper / scissors hand detection. Log in at "
              "`POST /api/v1/login`, then send `Authorization: Bearer <token>`.")
bearer = HTTPBearer(auto_error=False, description="the token from POST /api/v1/login")


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_NAME)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


@api.middleware("http")
async def _security_headers(request: Request, call_next):
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


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


@serve.deployment(name="ingress")
@serve.ingress(api)
class Ingress:
    def __init__(self, model: DeploymentHandle, config: ServeConfig, secret: bytes, model_info: dict[str, Any]):
        self.model = model
        self.cfg = config
        self.limits = config.limits
        self.users = UserStore(Path(config.users_file))
        self.signer = TokenSigner(secret, config.token_ttl_s)
        self.guard = LoginGuard(self.limits.login_failures_before_lockout, self.limits.lockout_s)
        self.rate = RateLimiter(self.limits.requests_per_minute, self.limits.burst)
        self.login_rate = RateLimiter(self.limits.logins_per_minute, self.limits.logins_per_minute)
        self.password_checks = asyncio.Semaphore(1)  # scrypt one at a time: logins cannot take the model's CPU
        self.decodes = asyncio.Semaphore(self.limits.concurrent_decodes)
        self.formats = pillow_formats(self.limits.content_types)
        self.model_info = model_info

    def _user(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        if credentials is None or not credentials.credentials:
            raise AuthError("not logged in: send Authorization: Bearer <token> from POST /api/v1/login")
        return self.signer.verify(credentials.credentials.strip(), current_fingerprint=self.users.fingerprint)

    @api.get("/healthz")
    async def healthz(self) -> dict[str, Any]:
        """Liveness of the ingress and the model deployment (does not run the model)."""
        info = await self.model.info.remote()
        return {"status": "ok", "model_version": info["version"]}

    @api.post("/api/v1/login", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": Login.model_json_schema()}}}})
    async def login(self, request: Request) -> dict[str, Any]:
        """JSON {username, password} -> a bearer token. Limits: `logins_per_minute` per client address, and
        `login_failures_before_lockout` wrong passwords lock that name for that address only."""
        address = client_address(request, self.cfg.trusted_proxies)
        self.login_rate.take(address)
        try:
            body = Login.model_validate_json(await read_body(request, LOGIN_BODY_BYTES))
        except ValidationError:
            raise Refused(400, f"send JSON {{\"username\": ..., \"password\": ...}}: a name of 1-{MAX_NAME} and a "
                          f"password of 1-{MAX_PASSWORD} characters") from None
        key = (body.username, address)
        wait = self.guard.retry_after(key)
        if wait > 0:
            raise Refused(429, f"too many failed logins for {body.username!r}: try again in {wait:.0f} s",
                          {"Retry-After": str(int(wait) + 1)})
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
    async def models(self, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict[str, Any]:
        self._user(credentials)
        return {"models": [self.model_info]}

    @api.post("/api/v1/detect")
    async def detect(self, request: Request, score_threshold: float | None = None,
                     credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> dict[str, Any]:
        """Send an image as the raw body (Content-Type image/jpeg, ...) or as a multipart file field."""
        started = time.perf_counter()
        user = self._user(credentials)
        self.rate.take(user)
        body = await read_body(request, self.limits.max_body_bytes)
        data = await image_from_body(request, body, self.limits.content_types)
        async with self.decodes:  # bounds decode memory per ingress replica
            image: DecodedImage = await asyncio.to_thread(decode_image, data, self.limits.max_pixels,
                                                          self.limits.max_side, self.formats)
        result = await self.model.detect.remote(image.pixels)
        threshold = self.cfg.score_threshold if score_threshold is None else score_threshold
        names = self.model_info["class_names"]
        detections = [{"box": [round(v / image.scale, 1) for v in d["box"]], "label": names[d["label"]],
                       "class_id": d["label"], "score": round(d["score"], 4)}
                      for d in result["detections"] if d["score"] >= threshold]
        return {"detections": detections, "image": {"width": image.width, "height": image.height},
                "model": {"name": self.model_info["name"], "version": self.model_info["version"]},
                "score_threshold": threshold, "batch_size": result["batch_size"],
                "model_ms": round(result["model_ms"], 1), "replica": result["replica"],
                "server_ms": round(1000 * (time.perf_counter() - started), 1)}

    @api.get("/", include_in_schema=False)
    async def page(self) -> FileResponse:
        return FileResponse(WEB_DIR / "index.html")

    @api.get("/{asset}", include_in_schema=False)
    async def asset(self, asset: str) -> FileResponse:
        """Only the page's own files: nothing else on disk is reachable (Serve's ingress drops mounts)."""
        if asset not in WEB_ASSETS:
            raise Refused(404, f"not found: /{asset}")
        return FileResponse(WEB_DIR / asset)
