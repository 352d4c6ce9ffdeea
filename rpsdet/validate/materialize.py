"""Write a kept image into the clean dataset: a byte copy when nothing changes, else upright RGB re-encoded."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from rpsdet.validate.decide import Decision
from rpsdet.validate.images import ACCEPTED_FORMATS, SUFFIX_FORMAT

HIGH_BIT_MODES = {"I;16", "I;16B", "I;16L", "I", "F"}


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: alpha composited on white, 16-bit and float stretched to 0..255."""
    if im.mode in HIGH_BIT_MODES:
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def write_image(src: Path, dest: Path, d: Decision) -> None:
    """Make `dest` the kept image: the inspection already wrote the original bytes there when it decoded."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not d.reencode:
        if not dest.is_file():
            shutil.copyfile(src, dest)
        return
    with Image.open(src, formats=ACCEPTED_FORMATS) as im:
        im.load()
        im = to_rgb(ImageOps.exif_transpose(im))
    if im.size != d.size:
        im = im.resize(d.size, Image.Resampling.LANCZOS)
    fmt = SUFFIX_FORMAT[dest.suffix.lower()]
    im.save(dest, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
