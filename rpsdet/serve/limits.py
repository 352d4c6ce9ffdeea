"""Request refusals decided before any model work: size, content type, decodability, pixel count, rate."""
from __future__ import annotations

import io
import time
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


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


@dataclass
class DecodedImage:
    pixels: np.ndarray  # HxWx3 uint8 RGB, possibly shrunk
    width: int  # the original's size, after EXIF rotation: the frame boxes are reported in
    height: int
    scale: float  # original pixel = sent pixel / scale


def decode_image(data: bytes, max_pixels: int, max_side: int) -> DecodedImage:
    """Decode fully (truncated files fail here, not in the model), upright by EXIF, shrunk to `max_side`."""
    if not data:
        raise Refused(400, "empty body: send an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:  # from the header alone, before decoding
                raise Refused(400, f"image has {image.width}x{image.height} pixels, over the limit of {max_pixels}")
            image.load()
            image = ImageOps.exif_transpose(image).convert("RGB")
    except Refused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(400, f"image is over the limit of {max_pixels} pixels (decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Refused(400, f"cannot decode the image: {exc}") from None
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    return DecodedImage(np.asarray(image), width, height, scale)


class RateLimiter:
    """A token bucket per user: `per_minute` sustained, up to `burst` at once."""

    def __init__(self, per_minute: int, burst: int):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, user: str, now: float | None = None) -> None:
        now = now if now is not None else time.monotonic()
        tokens, last = self._buckets.get(user, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
            self._buckets[user] = (tokens, now)
            raise Refused(429, f"too many requests: try again in {wait:.1f} s", {"Retry-After": str(int(wait) + 1)})
        self._buckets[user] = (tokens - 1.0, now)
