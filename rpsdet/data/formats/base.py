"""What every reader returns: raw annotations as written, and problems instead of exceptions.

Readers only parse; they never judge geometry or class names (that is rpsdet.validate's job), and they never
raise on bad input: a file that cannot be used becomes a `Problem` naming the file, the image and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the canonical records are only named in signatures here
    from rpsdet.data.coco import ImageRecord

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

Box = tuple[float, float, float, float]


@dataclass
class RawObject:
    """One labelled object as written. `box` is xyxy pixels (or fractions when the annotation is normalized);
    None when the object has no usable box, with `problem` saying why and `check` naming the kind."""

    name: str
    box: Box | None
    problem: str = ""
    check: str = "object_without_box"  # or "negative_box": a size or value the format forbids


@dataclass
class RawAnnotation:
    file: str  # annotation file, relative to the source root
    width: int | None = None  # image size recorded in the annotation, if the format records one
    height: int | None = None
    objects: list[RawObject] = field(default_factory=list)
    normalized: bool = False  # YOLO: boxes are fractions of the real image size


@dataclass
class Problem:
    """A reader's finding: `image` is the image path it concerns ('' when none can be named)."""

    file: str
    image: str
    check: str
    detail: str


@dataclass
class Source:
    root: Path
    format: str
    images: list[str] = field(default_factory=list)  # every image file, relative to root, sorted
    image_root: str = ""  # folder (relative to root) that output image names are taken relative to
    annotations: dict[str, RawAnnotation] = field(default_factory=dict)  # image path -> its annotation
    problems: list[Problem] = field(default_factory=list)


def _no_files(root: Path, parts: list[Path]) -> set[str]:
    return set()


def _nothing_to_finish(out: Path, records: list[ImageRecord], names: dict[int, str]) -> None:
    return None


@dataclass(frozen=True)
class DatasetFormat:
    """Everything rpsdet knows about one labeling-tool format: the one object a format module exports as FORMAT.

    The CLI's --format choices, `rpsdet import`, `rpsdet validate` and `rpsdet export` all read it from
    `rpsdet.data.formats.FORMATS`, so a new format is one new module in this package.
    """

    name: str
    detect_order: int  # lower is tried first: VOC XML beats a stray .txt, YOLO labels beat a stray .json
    detect: Callable[[Path, list[str]], bool]  # (source root, every file below it) -> looks like this format
    read: Callable[[Path], Source]  # never raises on bad content (see the module docstring)
    image_dir: str  # where `rpsdet export` puts the images
    write_image: Callable[[Path, ImageRecord, str], None]  # (out, record, output file name): per-image labels
    finish: Callable[[Path, list[ImageRecord], dict[int, str]], None] = _nothing_to_finish  # dataset-wide files
    # Import: files every side needs (YOLO class names), and for a format whose labels live in dataset-wide
    # files (COCO JSON) the finder of those files and the writer of one subset per side.
    shared_files: Callable[[Path, list[Path]], set[str]] = _no_files
    dataset_files: Callable[[Path], list[Path]] | None = None
    write_side: Callable[[Path, list[Path], set[str], Path], list[str]] | None = None  # (root, parts, images, side dir)
    support_names: frozenset[str] = frozenset()  # non-annotation files a source may hold (class-name lists)


def _walk(base: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(files, skipped links) below `base`, both relative to it and sorted. A symbolic link is kept only when it
    names a file inside `base`: one pointing outside (`link.jpg -> /etc/hostname`), a dangling one, or a link to
    a folder would bring in files that are not part of the source, or that `dvc push` would upload."""
    found: list[str] = []
    links: list[tuple[str, str]] = []
    root = os.path.realpath(base)
    pending = [""]
    while pending:
        folder = pending.pop()
        path = os.path.join(base, folder)
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    rel = f"{folder}/{entry.name}" if folder else entry.name
                    if entry.is_symlink():
                        target = os.path.realpath(entry.path)
                        if os.path.commonpath([root, target]) != root:
                            links.append((rel, f"a link to {target}, outside the source"))
                        elif not os.path.isfile(target):
                            links.append((rel, "a link to a folder or to nothing"))
                        else:
                            found.append(rel)
                    elif entry.is_dir(follow_symlinks=False):
                        pending.append(rel)
                    elif entry.is_file(follow_symlinks=False):
                        found.append(rel)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot list the folder {path} ({exc.strerror}); make it readable, or move it out of the source",
            ) from None
    return sorted(found), sorted(links)


def list_files(base: Path) -> list[str]:
    """Every file below `base` as a path relative to it, sorted; like `rglob("*")` + `is_file()` but from the
    directory entries alone, with no stat and no Path object per file, so a 10^4-file source is walked in
    milliseconds. Links that leave `base` are not listed (see `skipped_links`). A folder that cannot be listed
    raises OSError naming it: rglob would skip it, silently dropping every image inside."""
    return _walk(base)[0]


def skipped_links(base: Path) -> list[tuple[str, str]]:
    """(path, why) of every symbolic link below `base` that `list_files` leaves out, to report them."""
    return _walk(base)[1]


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with every link followed, is within `root`: a file a source may read."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def real_file(root: Path, rel: str) -> Path:
    """The file `rel` names below `root` with links resolved, checked again at copy time; copying that path with
    follow_symlinks=False can then never pull in a file from outside the source (a link swapped meanwhile)."""
    real = Path(os.path.realpath(Path(root) / rel))
    if not inside(root, real) or not real.is_file():
        raise ValueError(f"{Path(root) / rel} is a link out of the source or to nothing; copy the file itself in")
    return real


def suffix_of(rel: str) -> str:
    """Lower-case extension of a relative path, as `Path(rel).suffix.lower()` gives it."""
    return os.path.splitext(rel)[1].lower()


def list_images(root: Path, under: Path | None = None) -> list[str]:
    """Image files (by suffix, any case) below `under` (default: root), relative to root, sorted."""
    base = under or root
    if not base.is_dir():
        return []
    under_rel = base.relative_to(root).as_posix()
    prefix = "" if under_rel == "." else f"{under_rel}/"
    return [prefix + rel for rel in list_files(base) if suffix_of(rel) in IMAGE_SUFFIXES]


def read_text(path: Path) -> str:
    """Decode as UTF-8 (with or without BOM), falling back to latin-1 so odd encodings still parse."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")
