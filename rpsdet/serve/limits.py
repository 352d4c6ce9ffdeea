"""Request refusals decided before any model work: size, content type, decodability, pixel count, rate."""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger("ray.serve")


class Refused(Exception):
    """An HTTP refusal: `status` and a message safe to show to the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def check_content_type(content_type: str | None, allowed: tuple[str, ...]) -> None:
    base = (content_type or "").split(";")[0].strip().lower()
    if base not in allowed:
        raise Refused(415, f"unsupported content type {base or '(none)'!r}; send one of {', '.join(allowed)}")


# The Pillow decoders each accepted content type may reach; any other format (EPS, which runs Ghostscript, PSD,
# ICO...) is refused whatever the Content-Type says.
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/bmp": "BMP"}


def pillow_formats(content_types: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(PILLOW_FORMATS[t] for t in content_types if t in PILLOW_FORMATS)


@dataclass
class DecodedImage:
    pixels: np.ndarray  # HxWx3 uint8 RGB, possibly shrunk
    width: int  # the original's size, after EXIF rotation: the frame boxes are reported in
    height: int
    scale: float  # original pixel = sent pixel / scale
    decoded: tuple[int, int]  # pixels Pillow actually decoded: JPEG draft mode decodes at 1/2, 1/4 or 1/8


def decode_image(
    data: bytes, max_pixels: int, max_side: int, formats: tuple[str, ...] = tuple(PILLOW_FORMATS.values())
) -> DecodedImage:
    """Decode (truncated files fail here, not in the model), upright by EXIF, shrunk to `max_side`.

    Memory stays near the output size: the pixel count is checked from the header, a JPEG is decoded at the
    smallest 1/2^k scale still above the output size, and only that is rotated and converted. Errors say what is
    wrong in our words; Pillow's own text (it carries object addresses) never reaches the caller."""
    if not data:
        raise Refused(400, "empty body: send an image")
    accepted = "/".join(formats)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
            raw_width, raw_height = image.size
            if raw_width * raw_height > max_pixels:  # from the header alone, before decoding
                raise Refused(400, f"image has {raw_width}x{raw_height} pixels, over the limit of {max_pixels}")
            scale = min(1.0, max_side / max(raw_width, raw_height))
            target = (max(1, round(raw_width * scale)), max(1, round(raw_height * scale)))
            if image.format == "JPEG" and scale < 1.0:
                image.draft("RGB", target)
            image.load()
            decoded = image.size
            if decoded != target:
                image = image.resize(target, Image.BILINEAR)
            image = ImageOps.exif_transpose(image).convert("RGB")
    except Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(400, f"image is over the limit of {max_pixels} pixels (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise Refused(400, f"cannot decode the image: the bytes are not {accepted}") from None
    except Exception as exc:  # Pillow raises many types for damaged pixels or EXIF; each is the sender's problem
        log.info("refused an undecodable upload: %s", type(exc).__name__)
        raise Refused(
            400, f"cannot decode the image: its {accepted} data or EXIF metadata is damaged or truncated"
        ) from None
    rotated = image.size != target
    width, height = (raw_height, raw_width) if rotated else (raw_width, raw_height)
    return DecodedImage(np.asarray(image), width, height, scale, decoded)


class RateLimiter:
    """A token bucket per key (user, client address): `per_minute` sustained, up to `burst` at once. Memory is
    bounded: beyond `max_records` keys the least recently seen is forgotten (it starts again with a full bucket)."""

    def __init__(self, per_minute: int, burst: int, max_records: int = 10_000):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_records = max_records
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, key: Hashable, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        self._buckets[key] = (tokens, now)  # most recent last
        while len(self._buckets) > self.max_records:
            self._buckets.popitem(last=False)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
            raise Refused(429, f"too many requests: try again in {wait:.1f} s", {"Retry-After": str(int(wait) + 1)})
        self._buckets[key] = (tokens - 1.0, now)

    def __len__(self) -> int:
        return len(self._buckets)
