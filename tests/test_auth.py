"""Passwords, tokens, lockout, rate limits, image decoding and serve params: the pieces the ingress relies on."""
import io
import json
import stat

import numpy as np
import pytest
from PIL import Image

from rpsdet.serve.auth import AuthError, LoginGuard, TokenSigner, UserStore, load_or_create_secret
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.limits import Refused, RateLimiter, check_content_type, decode_image


def test_users_file_holds_salted_hashes_only(tmp_path):
    store = UserStore(tmp_path / "u" / "users.json")
    store.add("alice", "correct horse")
    store.add("bob", "correct horse")
    text = (tmp_path / "u" / "users.json").read_text()
    assert "correct horse" not in text
    users = json.loads(text)["users"]
    assert users["alice"]["salt"] != users["bob"]["salt"] and users["alice"]["hash"] != users["bob"]["hash"]
    assert stat.S_IMODE((tmp_path / "u" / "users.json").stat().st_mode) == 0o600
    assert store.check("alice", "correct horse") and not store.check("alice", "correct horsE")
    assert not store.check("mallory", "correct horse")
    store.add("alice", "a new password")
    assert store.check("alice", "a new password") and store.names() == ["alice", "bob"]


@pytest.mark.parametrize("name, password, message", [("bad name!", "long enough", "user names"),
                                                     ("carol", "short", "at least 8")])
def test_bad_users_are_refused_with_a_reason(tmp_path, name, password, message):
    with pytest.raises(ValueError, match=message):
        UserStore(tmp_path / "users.json").add(name, password)


def test_a_broken_users_file_is_named(tmp_path):
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(ValueError, match="not an rpsdet users file"):
        UserStore(tmp_path / "users.json").check("a", "b")


def test_tokens_expire_and_resist_tampering(tmp_path):
    secret = load_or_create_secret(tmp_path / "secret")
    assert load_or_create_secret(tmp_path / "secret") == secret and len(secret) == 32
    signer = TokenSigner(secret, ttl_s=60)
    token, exp = signer.issue("alice", now=1000.0)
    assert exp == 1060 and signer.verify(token, now=1059.0) == "alice"
    with pytest.raises(AuthError, match="expired"):
        signer.verify(token, now=1060.0)
    payload, signature = token.split(".")
    forged_payload = TokenSigner(b"other", 60).issue("admin", now=1000.0)[0].split(".")[0]
    for bad in (f"{forged_payload}.{signature}", f"{payload}.{signature[:-1]}x", payload, "", "a.b.c"):
        with pytest.raises(AuthError, match="invalid"):
            signer.verify(bad, now=1001.0)


def test_login_guard_locks_after_repeated_failures():
    guard = LoginGuard(max_failures=3, lockout_s=30)
    guard.failed("carol", now=0)
    guard.failed("carol", now=1)
    assert guard.retry_after("carol", now=2) == 0
    guard.failed("carol", now=2)
    assert guard.retry_after("carol", now=3) == 29 and guard.retry_after("bob", now=3) == 0
    assert guard.retry_after("carol", now=33) == 0
    guard.failed("dave", now=0)
    guard.succeeded("dave")
    guard.failed("dave", now=1)
    guard.failed("dave", now=1)
    assert guard.retry_after("dave", now=2) == 0  # a success resets the count


def test_rate_limiter_allows_a_burst_then_refills():
    limiter = RateLimiter(per_minute=60, burst=2)
    limiter.take("u", now=0)
    limiter.take("u", now=0)
    with pytest.raises(Refused) as exc:
        limiter.take("u", now=0.5)
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "1"
    limiter.take("other", now=0.5)
    limiter.take("u", now=1.5)


def _jpeg(image: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", **kw)
    return buf.getvalue()


def test_decode_applies_exif_rotation_and_shrinks():
    image = Image.new("RGB", (400, 200), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the phone-camera case
    decoded = decode_image(_jpeg(image, exif=exif), max_pixels=10**6, max_side=100)
    assert (decoded.width, decoded.height) == (200, 400) and decoded.scale == 0.25
    assert decoded.pixels.shape == (100, 50, 3) and decoded.pixels.dtype == np.uint8


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"GIF89a-broken", "cannot decode"),
                                           (_jpeg(Image.new("RGB", (64, 64)))[:200], "cannot decode")])
def test_undecodable_bodies_are_400(data, message):
    with pytest.raises(Refused, match=message) as exc:
        decode_image(data, max_pixels=10**6, max_side=100)
    assert exc.value.status == 400


def test_pixel_limit_is_checked_from_the_header():
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # 400 Mpx in ~50 kB
    with pytest.raises(Refused, match="over the limit") as exc:
        decode_image(buf.getvalue(), max_pixels=10**6, max_side=100)
    assert exc.value.status == 400


def test_content_types():
    check_content_type("image/JPEG; charset=binary", ("image/jpeg",))
    for bad in ("text/plain", None, ""):
        with pytest.raises(Refused) as exc:
            check_content_type(bad, ("image/jpeg",))
        assert exc.value.status == 415


def test_serve_params_are_checked():
    cfg = ServeConfig.from_params({"port": 9000, "limits": {"burst": 3, "content_types": ["image/png"]}})
    assert cfg.port == 9000 and cfg.limits.burst == 3 and cfg.limits.content_types == ("image/png",)
    with pytest.raises(ValueError, match="unknown serve params"):
        ServeConfig.from_params({"prot": 9000})
    with pytest.raises(ValueError, match="unknown serve.limits params"):
        ServeConfig.from_params({"limits": {"max_bytes": 1}})
    with pytest.raises(ValueError, match="num_gpus"):
        ServeConfig.from_params({"num_gpus": "many"})
