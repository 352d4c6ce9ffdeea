"""Users, passwords and tokens with the standard library only.

Passwords: salted scrypt hashes in a JSON file (never plain text). Tokens: `payload.signature`, an HMAC-SHA256
over a base64url JSON payload holding the user, an expiry and a fingerprint of the user's password hash, so any
ingress replica with the same secret can check them without shared state, and removing a user or changing their
password revokes their tokens. Failed logins are slowed down and then locked out per (user name, client address):
a stranger cannot lock a user out from another address.
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
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and ~50 ms per check: cheap for a login, costly for guessing
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 8
MAX_NAME = 64  # as NAME_RE
MAX_PASSWORD = 256  # longer inputs are refused before any hashing


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
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise ValueError(f"passwords need {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        users = self._load()
        salt = secrets.token_bytes(16)
        users[name] = {"salt": salt.hex(), "hash": _hash(password, salt, **SCRYPT).hex(), **SCRYPT}
        _write_private(self.path, json.dumps({"users": users}, indent=1) + "\n")

    def remove(self, name: str) -> None:
        """Delete a user; their tokens stop working at their next request."""
        users = self._load()
        if name not in users:
            raise ValueError(f"no user {name!r} in {self.path}; users: {', '.join(sorted(users)) or 'none'}")
        del users[name]
        _write_private(self.path, json.dumps({"users": users}, indent=1) + "\n")

    def fingerprint(self, name: str) -> str | None:
        """A short digest of the user's current password hash (None: no such user); tokens carry it."""
        user = self._load().get(name)
        if user is None:
            return None
        return hashlib.sha256(f"rpsdet-token:{user['salt']}:{user['hash']}".encode()).hexdigest()[:16]

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

    def issue(self, user: str, now: float | None = None, fingerprint: str = "") -> tuple[str, int]:
        """Returns (token, expiry as unix seconds); `fingerprint` is UserStore.fingerprint(user)."""
        exp = int((now if now is not None else time.time()) + self.ttl_s)
        claims = {"sub": user, "exp": exp, "fp": fingerprint}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}", exp

    def verify(
        self, token: str, now: float | None = None, current_fingerprint: Callable[[str], str | None] | None = None
    ) -> str:
        """The user name in a valid, unexpired token; AuthError otherwise. With `current_fingerprint`, a token
        of a removed user, or issued before a password change, is refused too."""
        payload, _, signature = token.partition(".")
        expected = self._sign(payload).encode()
        # bytes, not str: compare_digest raises TypeError on a non-ASCII str (a 500 instead of a 401)
        if not payload or not signature or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected):
            raise AuthError("invalid token: log in again")
        try:
            claims = json.loads(_unb64(payload))
            user, exp, fingerprint = str(claims["sub"]), float(claims["exp"]), str(claims.get("fp", ""))
        except (ValueError, KeyError, TypeError):
            raise AuthError("invalid token: log in again") from None
        if (now if now is not None else time.time()) >= exp:
            raise AuthError("token expired: log in again")
        if current_fingerprint is not None:
            current = current_fingerprint(user)
            if current is None or not hmac.compare_digest(current.encode(), fingerprint.encode()):
                raise AuthError("token revoked (the user was removed or the password changed): log in again")
        return user

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.secret, payload.encode("utf-8", "replace"), hashlib.sha256).digest())


class LoginGuard:
    """Counts failed logins per key (user name, client address); after `max_failures` in a row the key is locked
    for `lockout_s`. A record ends `lockout_s` after its last failure, and at most `max_records` are kept (the
    oldest go first), so a flood of made-up names cannot grow memory without bound."""

    def __init__(self, max_failures: int, lockout_s: float, max_records: int = 10_000):
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.max_records = max_records
        self._records: OrderedDict[Hashable, tuple[int, float, float]] = OrderedDict()  # failures, last, locked

    def _now(self, now: float | None) -> float:
        return now if now is not None else time.monotonic()

    def _expire(self, now: float) -> None:
        while self._records:
            key, (_, last, locked_until) = next(iter(self._records.items()))
            if max(last + self.lockout_s, locked_until) > now and len(self._records) <= self.max_records:
                break
            del self._records[key]

    def retry_after(self, key: Hashable, now: float | None = None) -> float:
        """Seconds until `key` may try again (0 = now)."""
        now = self._now(now)
        self._expire(now)
        record = self._records.get(key)
        return max(0.0, record[2] - now) if record else 0.0

    def failed(self, key: Hashable, now: float | None = None) -> None:
        now = self._now(now)
        self._expire(now)
        count, _, locked_until = self._records.pop(key, (0, now, 0.0))
        count += 1
        if count >= self.max_failures:
            count, locked_until = 0, now + self.lockout_s
        self._records[key] = (count, now, locked_until)  # most recent last: expiry walks from the front
        self._expire(now)

    def succeeded(self, key: Hashable) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)
