"""Per-image integrity facts from one full decode: run in a process pool so every core decodes.

`inspect_image` never raises: a file that cannot be decoded comes back with `error` set to a check name.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from rpsdet.progress import progress

# Pillow formats and the file extensions that may carry them.
FORMAT_SUFFIXES = {
    "JPEG": {".jpg", ".jpeg"},
    "PNG": {".png"},
    "BMP": {".bmp"},
    "WEBP": {".webp"},
    "TIFF": {".tif", ".tiff"},
}
SUFFIX_FORMAT = {s: f for f, suffixes in FORMAT_SUFFIXES.items() for s in suffixes}
# The only decoders a source file may reach, whatever its name says: Pillow would otherwise try every format it
# knows (EPS runs Ghostscript where it is installed). JPEG covers phones' MPO files.
ACCEPTED_FORMATS = list(FORMAT_SUFFIXES)
EXIF_ORIENTATION = 0x0112
SWAPS_AXES = {5, 6, 7, 8}
THUMB = 16  # side of the colour thumbnail that confirms near-duplicates


@dataclass
class ImageInfo:
    path: str  # relative to the source root
    bytes: int = 0
    sha256: str = ""
    format: str | None = None  # what the bytes really are, per Pillow
    mode: str = ""
    raw_size: tuple[int, int] = (0, 0)  # pixels as stored
    orientation: int = 1  # EXIF orientation tag (1 = upright)
    dhash: int = 0  # 64-bit difference hash of the upright image, for near-duplicates
    thumb: bytes = b""  # THUMB x THUMB RGB thumbnail of the upright image: confirms a near-duplicate pixel-wise
    error: str = ""  # check name when the image is unusable
    detail: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """Width and height as displayed, i.e. after the EXIF orientation is applied."""
        w, h = self.raw_size
        return (h, w) if self.orientation in SWAPS_AXES else (w, h)


def _sample_grid(im: Image.Image) -> Image.Image:
    """A nearest-neighbour grid of 144x128 samples: ~10x cheaper than filtering every pixel, and averaging
    dozens of samples per cell still shrugs off re-encoding noise."""
    return im.resize((144, 128), Image.Resampling.NEAREST) if im.width > 144 and im.height > 128 else im


def dhash(im: Image.Image) -> int:
    """Difference hash: 8x8 signs of horizontal gradients of a 9x8 grayscale thumbnail."""
    arr = np.asarray(_sample_grid(im).convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (arr[:, 1:] > arr[:, :-1]).flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def thumbnail(im: Image.Image) -> bytes:
    """THUMB x THUMB RGB averages: the dHash only keeps gradient signs, so two distinct flat images (noise
    decides their bits) can hash a few bits apart; their colours still differ here."""
    return _sample_grid(im).convert("RGB").resize((THUMB, THUMB), Image.Resampling.BOX).tobytes()


def pixel_digest(root: Path, info: ImageInfo) -> str:
    """Hash of the decoded upright pixels: equal for the same picture saved as different bytes (re-saved, other
    metadata). Costs a decode, so it is only asked for images whose dHash, thumbnail and size already agree."""
    with Image.open(Path(root) / info.path) as im:
        im.load()
        upright = im.transpose(_TRANSPOSE[info.orientation]) if info.orientation != 1 else im
        return hashlib.sha256(f"{upright.mode} {upright.size}".encode() + upright.tobytes()).hexdigest()


def inspect_image(root: str, rel: str, max_pixels: int, dest: str = "") -> ImageInfo:
    """Hash, identify, fully decode and fingerprint one file; if it decodes, also write its bytes to `dest`
    (the clean dataset's copy, written here from memory so the copy is parallel too; the caller removes it if
    the image is quarantined and rewrites it if it needs a fix)."""
    info = ImageInfo(rel)
    try:
        data = (Path(root) / rel).read_bytes()
    except OSError as exc:
        info.error, info.detail = "unreadable_image", f"cannot be read ({exc.strerror})"
        return info
    info.bytes, info.sha256 = len(data), hashlib.sha256(data).hexdigest()
    if not data:
        info.error, info.detail = "zero_byte_image", "the file is empty (0 bytes); re-copy it from the original"
        return info
    try:
        with Image.open(BytesIO(data), formats=ACCEPTED_FORMATS) as im:
            info.format, info.mode, info.raw_size = im.format, im.mode, im.size
            if im.width * im.height > max_pixels:
                info.error = "decompression_bomb"
                info.detail = (
                    f"{im.width}x{im.height} = {im.width * im.height / 1e6:.0f} Mpx is over the "
                    f"{max_pixels / 1e6:.0f} Mpx limit (validate.max_pixels); refused without decoding"
                )
                return info
            try:
                info.orientation = int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
            except Exception:  # a corrupt EXIF block must not hide the pixels; treat as upright
                info.orientation = 1
            if info.orientation not in range(1, 9):
                info.orientation = 1
            im.load()
            upright = im.transpose(_TRANSPOSE[info.orientation]) if info.orientation != 1 else im
            info.dhash, info.thumb = dhash(upright), thumbnail(upright)
        if dest:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            Path(dest).write_bytes(data)
    except Image.DecompressionBombError as exc:
        info.error, info.detail = "decompression_bomb", f"refused by Pillow without decoding ({exc})"
    except UnidentifiedImageError:  # its message names a memory address: the report would differ on every run
        info.error = "undecodable_image"
        info.detail = (
            f"not an image in an accepted format: the bytes are not {', '.join(FORMAT_SUFFIXES)}; "
            "convert it to JPEG/PNG, or re-export or re-copy it"
        )
    except Exception as exc:  # Pillow raises many types for broken files; each is a finding, not a crash
        message = str(exc)
        info.error = "truncated_image" if "truncated" in message else "undecodable_image"
        info.detail = f"does not decode ({type(exc).__name__}: {message[:200]}); re-export or re-copy it"
    return info


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _inspect_chunk(args: tuple[str, list[tuple[str, str]], int]) -> list[ImageInfo]:
    root, items, max_pixels = args
    return [inspect_image(root, rel, max_pixels, dest) for rel, dest in items]


def inspect_images(
    root: Path,
    rels: list[str],
    max_pixels: int,
    workers: int = 0,
    dests: dict[str, str] | None = None,
    desc: str = "decode images",
) -> dict[str, ImageInfo]:
    """Inspect every image, spread over `workers` processes (0 = every core this process may use)."""
    workers = workers or len(os.sched_getaffinity(0))
    items = [(rel, (dests or {}).get(rel, "")) for rel in rels]
    infos: dict[str, ImageInfo] = {}
    with progress(desc, len(items)) as bar:
        if workers <= 1 or len(rels) < 16:
            for rel, dest in items:
                infos[rel] = inspect_image(str(root), rel, max_pixels, dest)
                bar.update()
            return infos
        chunk = max(1, min(32, len(rels) // (workers * 4)))
        jobs = [(str(root), items[i : i + chunk], max_pixels) for i in range(0, len(items), chunk)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done in pool.map(_inspect_chunk, jobs):
                infos.update((info.path, info) for info in done)
                bar.update(len(done))
    return infos
