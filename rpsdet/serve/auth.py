"""Users, passwords and tokens with the standard library only.

Passwords: salted scrypt hashes in a JSON file (never plain text). Tokens: `payload.signature`, an HMAC-SHA256
over a base64url JSON payload holding the user and an expiry, so any ingress replica with the same secret can check
them without shared state. Failed logins are slowed down and then locked out per user name.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and ~50 ms per check: cheap for a login, costly for guessing
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8


class AuthError(Exception):
    """A login or token was refused; the message is safe to show to the caller."""


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    tmp.replace(path)


class UserStore:
    """The users file: {"users": {name: {"salt", "hash", "n", "r", "p"}}}."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _load(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        try:
            return json.loads(self.path.read_text())["users"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path} is not an rpsdet users file: {exc}") from None

    def names(self) -> list[str]:
        return sorted(self._load())

    def add(self, name: str, password: str) -> None:
        """Add a user or replace their password."""
        if not NAME_RE.match(name):
            raise ValueError("user names are 1-64 letters, digits, '_', '.' or '-'")
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"passwords need at least {MIN_PASSWORD} characters")
        users = self._load()
        salt = secrets.token_bytes(16)
        users[name] = {"salt": salt.hex(), "hash": _hash(password, salt, **SCRYPT).hex(), **SCRYPT}
        _write_private(self.path, json.dumps({"users": users}, indent=1) + "\n")

    def check(self, name: str, password: str) -> bool:
        """True when the password matches; unknown users cost as much time as known ones."""
        user = self._load().get(name)
        if user is None:
            _hash(password, b"unknown-user-pad", **SCRYPT)
            return False
        got = _hash(password, bytes.fromhex(user["salt"]), user["n"], user["r"], user["p"])
        return hmac.compare_digest(got, bytes.fromhex(user["hash"]))


def load_or_create_secret(path: Path) -> bytes:
    """The token signing key; created once (owner-only) so tokens survive a restart."""
    path = Path(path)
    if not path.is_file():
        _write_private(path, secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TokenSigner:
    secret: bytes
    ttl_s: int

    def issue(self, user: str, now: float | None = None) -> tuple[str, int]:
        """Returns (token, expiry as unix seconds)."""
        exp = int((now if now is not None else time.time()) + self.ttl_s)
        payload = _b64(json.dumps({"sub": user, "exp": exp}, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", exp

    def verify(self, token: str, now: float | None = None) -> str:
        """The user name in a valid, unexpired token; AuthError otherwise."""
        payload, _, signature = token.partition(".")
        if not payload or not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise AuthError("invalid token: log in again")
        try:
            claims = json.loads(_unb64(payload))
            user, exp = str(claims["sub"]), float(claims["exp"])
        except (ValueError, KeyError, TypeError):
            raise AuthError("invalid token: log in again") from None
        if (now if now is not None else time.time()) >= exp:
            raise AuthError("token expired: log in again")
        return user

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())


class LoginGuard:
    """Counts failed logins per user name; after `max_failures` the name is locked for `lockout_s`."""

    def __init__(self, max_failures: int, lockout_s: float):
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def retry_after(self, name: str, now: float | None = None) -> float:
        """Seconds until `name` may try again (0 = now)."""
        left = self._locked_until.get(name, 0.0) - (now if now is not None else time.monotonic())
        return max(0.0, left)

    def failed(self, name: str, now: float | None = None) -> None:
        count = self._failures.get(name, 0) + 1
        if count >= self.max_failures:
            self._locked_until[name] = (now if now is not None else time.monotonic()) + self.lockout_s
            count = 0
        self._failures[name] = count

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
        self._locked_until.pop(name, None)
