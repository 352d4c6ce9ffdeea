"""What `rpsdet predict SOURCE...` reads: image files, folders, glob patterns and video files, each accounted for.

Every path a user names ends up either as an input or as a `Skipped` entry with a reason (a folder that cannot be
listed, a file that is neither an image nor a video, an image that does not decode, a video OpenCV cannot open):
nothing is dropped silently and nothing stops the run halfway.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from rpsdet.data.formats.base import IMAGE_SUFFIXES

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg's own stderr chatter on a bad video; we report it
import cv2  # noqa: E402

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # "image" or "video"
    name: str  # output name, unique within the run (relative path for folder members)


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


class Unreadable(Exception):
    """An input that cannot be decoded; the message says why, for the skipped list."""


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _walk(folder: Path, skipped: list[Skipped]) -> list[Path]:
    """Every file under `folder`, sorted; a subfolder that cannot be listed is reported, not skipped silently."""

    def unlistable(err: OSError) -> None:
        skipped.append(Skipped(str(err.filename), f"cannot list this folder ({err.strerror}): check its permissions"))

    return sorted(Path(root) / f for root, _, files in os.walk(folder, onerror=unlistable) for f in files)


def expand_sources(sources: list[str]) -> tuple[list[Input], list[Skipped]]:
    """Images and videos named by `sources` (files, folders searched recursively, glob patterns), in order."""
    inputs: list[Input] = []
    skipped: list[Skipped] = []
    taken: set[str] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = [(f, str(f.relative_to(path))) for f in _walk(path, skipped)]
        elif path.is_file():
            found = [(path, path.name)]
        elif glob.has_magic(source):
            found = [(Path(f), Path(f).name) for f in sorted(glob.glob(source, recursive=True)) if Path(f).is_file()]
            if not found:
                skipped.append(Skipped(source, "the pattern matches no file"))
        else:
            skipped.append(Skipped(source, "no such file or folder"))
            found = []
        for file, name in found:
            kind = _kind(file)
            if kind is None:
                skipped.append(
                    Skipped(
                        str(file),
                        f"not an image ({' '.join(IMAGE_SUFFIXES)}) or a video "
                        f"({' '.join(VIDEO_SUFFIXES)}) by its extension",
                    )
                )
                continue
            inputs.append(Input(file, kind, _unique(name, taken)))
    return inputs, skipped


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `stem-2.ext`, `stem-3.ext`... when two sources hold files of the same name."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
    taken.add(candidate)
    return candidate


def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB, upright by EXIF (as phones store photos), fully decoded so a truncated file fails here."""
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Image.DecompressionBombError as exc:
        raise Unreadable(f"refused as a possible decompression bomb: {exc}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Unreadable(f"cannot decode the image ({type(exc).__name__}: {exc}); is the file complete?") from None


class Video:
    """Frames of a video file as RGB arrays, through OpenCV (FFmpeg)."""

    def __init__(self, path: Path):
        self.capture = cv2.VideoCapture(str(path))
        if not self.capture.isOpened():
            raise Unreadable("OpenCV cannot open this video: damaged file or a codec its FFmpeg lacks")
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 25.0
        self.frame_count = max(0, int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)))  # the container's claim

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            ok, frame = self.capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self.capture.release()
