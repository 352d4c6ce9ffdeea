"""Passwords, tokens, lockout, rate limits, image decoding and serve params: the pieces the ingress relies on."""

import io
import json
import stat
from pathlib import Path

import numpy as np
import pytest
from bad_images import MAKE_AS_RATIONAL, XRESOLUTION_AS_TEXT, damaged_exif_jpeg
from PIL import Image

from rpsdet.serve.auth import AuthError, LoginGuard, TokenSigner, UserStore, load_or_create_secret
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.limits import RateLimiter, Refused, check_content_type, decode_image


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


@pytest.mark.parametrize(
    "name, password, message",
    [
        ("bad name!", "long enough", "user names"),
        ("carol", "short", "need 8 to 256"),
        ("carol", "x" * 257, "need 8 to 256"),
    ],
)
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


@pytest.mark.parametrize(
    "data, message",
    [(b"", "empty"), (b"GIF89a-broken", "cannot decode"), (_jpeg(Image.new("RGB", (64, 64)))[:200], "cannot decode")],
)
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


# --- issue 13: lockout per (name, address), bounded records, token revocation, bytes compare, decode hardening


def test_lockout_is_per_name_and_address_so_strangers_cannot_lock_a_user_out():
    guard = LoginGuard(max_failures=3, lockout_s=30)
    for t in range(3):
        guard.failed(("carol", "10.0.0.66"), now=t)
    assert guard.retry_after(("carol", "10.0.0.66"), now=3) == 29
    assert guard.retry_after(("carol", "192.168.1.20"), now=3) == 0  # carol's own phone still gets in


def test_failure_records_expire_and_stay_bounded():
    guard = LoginGuard(max_failures=3, lockout_s=30, max_records=100)
    for i in range(1000):  # a flood of made-up names from made-up addresses
        guard.failed((f"user{i}", f"10.0.{i // 256}.{i % 256}"), now=i * 0.001)
    assert len(guard) == 100
    guard.failed(("carol", "10.0.0.1"), now=5)
    assert guard.retry_after(("nobody", "x"), now=40) == 0 and len(guard) == 0  # 30 s after their last failure
    limiter = RateLimiter(per_minute=60, burst=2, max_records=50)
    for i in range(500):
        limiter.take(f"10.1.{i // 256}.{i % 256}", now=0)
    assert len(limiter) == 50


def test_tokens_are_revoked_by_a_password_change_or_removal(tmp_path):
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "correct horse")
    store.add("bob", "battery staple")
    signer = TokenSigner(b"k" * 32, ttl_s=600)
    token = signer.issue("alice", fingerprint=store.fingerprint("alice"))[0]
    assert signer.verify(token, current_fingerprint=store.fingerprint) == "alice"
    store.add("alice", "a new password")
    with pytest.raises(AuthError, match="revoked"):
        signer.verify(token, current_fingerprint=store.fingerprint)
    bobs = signer.issue("bob", fingerprint=store.fingerprint("bob"))[0]
    store.remove("bob")
    with pytest.raises(AuthError, match="revoked"):
        signer.verify(bobs, current_fingerprint=store.fingerprint)
    with pytest.raises(ValueError, match="no user 'bob'"):
        store.remove("bob")
    assert store.names() == ["alice"]


def test_users_remove_command(tmp_path, capsys):
    from rpsdet.cli import main

    UserStore(tmp_path / "users.json").add("alice", "correct horse")
    assert main(["users", "remove", "alice", "--file", str(tmp_path / "users.json")]) == 0
    assert UserStore(tmp_path / "users.json").names() == []
    assert main(["users", "remove", "alice", "--file", str(tmp_path / "users.json")]) == 2
    assert "no user 'alice'" in capsys.readouterr().err


@pytest.mark.parametrize("token", ["é.é", "payload.sïgnature", "\u00ff\u00fe", "abc.\u00e9\u00e9\u00e9"])
def test_non_ascii_tokens_are_invalid_not_a_crash(token):
    with pytest.raises(AuthError, match="invalid token"):
        TokenSigner(b"k" * 32, ttl_s=60).verify(token)


@pytest.mark.parametrize("entry", [MAKE_AS_RATIONAL, XRESOLUTION_AS_TEXT])
def test_damaged_exif_is_a_400_that_does_not_echo_pillow(entry):
    with pytest.raises(Refused) as exc:
        decode_image(damaged_exif_jpeg(entry), 10**6, 100)
    assert exc.value.status == 400 and "EXIF metadata is damaged" in exc.value.message
    assert "0x" not in exc.value.message and "object" not in exc.value.message


def test_only_the_accepted_formats_are_decoded():
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "GIF")
    for data in (buf.getvalue(), b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n"):  # GIF, EPS (Ghostscript)
        with pytest.raises(Refused, match="the bytes are not JPEG/PNG/WEBP/BMP") as exc:
            decode_image(data, 10**6, 100)
        assert exc.value.status == 400
    png = io.BytesIO()
    Image.new("RGB", (32, 32)).save(png, "PNG")
    with pytest.raises(Refused, match="not JPEG"):
        decode_image(png.getvalue(), 10**6, 100, formats=("JPEG",))


def test_big_jpegs_are_decoded_in_draft_mode_at_a_fraction_of_their_pixels():
    image = Image.new("RGB", (4000, 3000), (0, 128, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(_jpeg(image, exif=exif), max_pixels=16_000_000, max_side=1024)
    assert decoded.decoded == (2000, 1500)  # 1/2 scale: the smallest 1/2^k still above 1024 px
    assert (decoded.width, decoded.height) == (3000, 4000) and decoded.pixels.shape == (1024, 768, 3)
    assert decoded.scale == 1024 / 4000
    assert ServeConfig().limits.max_pixels == 16_000_000  # a 12-16 Mpx camera original, not 40 Mpx


def test_client_address_believes_forwarded_for_only_from_trusted_proxies():
    from starlette.requests import Request

    from rpsdet.serve.app import client_address

    def request(peer: str, forwarded: str) -> Request:
        return Request({"type": "http", "client": (peer, 50000), "headers": [(b"x-forwarded-for", forwarded.encode())]})

    assert client_address(request("127.0.0.1", "6.6.6.6, 192.168.1.20"), ("127.0.0.1",)) == "192.168.1.20"
    assert client_address(request("192.168.1.30", "1.2.3.4"), ("127.0.0.1",)) == "192.168.1.30"
    assert client_address(request("127.0.0.1", "1.2.3.4"), ()) == "127.0.0.1"


def test_timeouts_and_ingress_concurrency_come_from_params():
    from rpsdet.serve.runner import http_options

    cfg = ServeConfig.from_params(
        {"request_timeout_s": 12, "ingress_max_ongoing_requests": 64, "trusted_proxies": ["127.0.0.1"]}
    )
    assert http_options(cfg) == {"host": "127.0.0.1", "port": 8000, "request_timeout_s": 12}
    assert cfg.ingress_max_ongoing_requests == 64 and cfg.trusted_proxies == ("127.0.0.1",)
    with pytest.raises(ValueError, match="request_timeout_s"):
        ServeConfig.from_params({"request_timeout_s": 0})


def test_haproxy_front_only_on_loopback(tmp_path):
    """HAProxy does not pass the client's address on: on a LAN address every caller would share one address in the
    login limits and lockouts (on loopback every caller is 127.0.0.1 either way, or the TLS proxy's X-Forwarded-For).
    Its files go to our private dir, not Ray's shared /tmp one."""
    from rpsdet.serve.runner import haproxy_env

    with pytest.raises(ValueError, match="cannot listen on '0.0.0.0'.*127.0.0.1"):
        ServeConfig.from_params({"http_proxy": "haproxy", "host": "0.0.0.0", "trusted_proxies": ["127.0.0.1"]})
    with pytest.raises(ValueError, match="http_proxy must be one of"):
        ServeConfig.from_params({"http_proxy": "nginx"})
    assert haproxy_env(ServeConfig.from_params({}), tmp_path) == {}
    cfg = ServeConfig.from_params({"http_proxy": "haproxy", "request_timeout_s": 2.5})
    env = haproxy_env(cfg, tmp_path)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and env["RAY_SERVE_HAPROXY_TIMEOUT_SERVER_S"] == "3"
    paths = [v for k, v in env.items() if k.endswith(("_PATH", "_LOC", "_BASE", "_FILE"))]
    assert len(paths) == 5 and all(Path(v).is_relative_to(tmp_path) for v in paths)


def test_max_batch_size_auto_is_1_on_cpu_and_8_on_gpu():
    """Measured: on 2 CPU cores batching did not pay (0.8-1.1x); a GPU runs a batch of 8 in about the time of one."""
    cfg = ServeConfig.from_params({})
    assert cfg.max_batch_size == "auto" and (cfg.batch_size(0), cfg.batch_size(1)) == (1, 8)
    assert ServeConfig.from_params({"max_batch_size": 4}).batch_size(1.0) == 4
    for bad in (0, "big", 2.5):
        with pytest.raises(ValueError, match="max_batch_size"):
            ServeConfig.from_params({"max_batch_size": bad})
