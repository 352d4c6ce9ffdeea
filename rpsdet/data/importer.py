"""`rpsdet import`: copy a labeling tool's export into an import folder holding `train/` and `test/`.

Why a copy: the pipeline (and DVC) must see a fixed snapshot inside the project, and the user's folder must never
change. Files are copied byte for byte with their paths inside the export, so the readers see each side exactly
as the tool wrote it. An export that carries its own split keeps it (train + valid -> train, the split stage
carves val itself; test -> test); otherwise a stable hash of each image's path sends `test_ratio` of the images,
with their annotation files, to test. COCO JSON is the one file written anew: one subset per side.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from rpsdet.data.formats import FORMATS, detect_format, read_source
from rpsdet.data.formats.base import list_files, list_images, real_file, skipped_links
from rpsdet.progress import progress

SIDES = ("train", "test")
SPLIT_FOLDERS = {"train": "train", "valid": "train", "val": "train", "validation": "train", "test": "test"}


@dataclass
class ImportPlan:
    """Which export file goes to which side (paths relative to the export root), and what is left out."""

    format: str
    parts: list[Path]  # the export's split folders, or its root
    images: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SIDES})
    files: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in SIDES})
    split_by: str = ""  # how the sides were chosen, in words
    left_out: list[str] = field(default_factory=list)


def _parts(root: Path) -> list[Path]:
    """The export's split folders (Roboflow: train/ valid/ test/), or the export root when it has none."""
    found = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in SPLIT_FOLDERS and list_images(d)]
    return found or [root]


def _format(parts: list[Path], wanted: str) -> str:
    if wanted != "auto":
        if wanted not in FORMATS:
            raise ValueError(f"unknown format {wanted!r}; use one of auto, {', '.join(FORMATS)}")
        return wanted
    found = {str(p): detect_format(p) for p in parts}
    formats = set(found.values())
    if None in formats:
        where = ", ".join(p for p, f in found.items() if f is None)
        raise ValueError(
            f"{where}: found no VOC XML, YOLO labels or COCO JSON; export from the labeling tool as "
            f"Pascal VOC, COCO or YOLO, or force one with --format {'|'.join(FORMATS)}"
        )
    if len(formats) > 1:
        raise ValueError(f"the export mixes formats ({found}); import one format, or force one with --format")
    return formats.pop()


def _folder_side(rel: str) -> str | None:
    """train/valid/test as a folder anywhere in the path (Roboflow train/images, Ultralytics images/val)."""
    for part in Path(rel).parent.parts:
        if part.lower() in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[part.lower()]
    return None


def hash_side(rel: str, test_ratio: float) -> str:
    """Stable for a path: re-importing, or adding images, never moves an image to the other side."""
    fraction = int(hashlib.sha1(rel.encode("utf-8")).hexdigest()[:12], 16) / 16**12
    return "test" if fraction < test_ratio else "train"


def plan_import(root: Path, fmt: str = "auto", test_ratio: float = 0.2) -> ImportPlan:
    """Decide the side of every image and the files that travel with it; raise on an unusable export."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; pass the folder the labeling tool exported")
    if not 0.0 < test_ratio < 1.0:
        raise ValueError(f"--test-ratio must be between 0 and 1, got {test_ratio}")
    parts = _parts(root)
    plan = ImportPlan(_format(parts, fmt), parts)
    kind = FORMATS[plan.format]
    per_image_files = kind.dataset_files is None  # COCO's labels are in dataset-wide JSON, written anew per side
    owned: dict[str, set[str]] = {}  # image (relative to root) -> its annotation files (VOC XML, YOLO txt)
    for part in parts:
        source = read_source(part, plan.format)
        prefix = part.relative_to(root)
        for image in source.images:
            files = {str(prefix / image)}
            ann = source.annotations.get(image)
            if ann is not None and per_image_files:
                files.add(str(prefix / ann.file))
            files |= {
                str(prefix / p.file)
                for p in source.problems
                if p.image == image and p.file and per_image_files and (part / p.file).is_file()
            }
            owned[str(prefix / image)] = files
    if not owned:
        raise ValueError(f"{root}: no images (.jpg, .png, ...) found; pass the folder that holds the exported images")
    annotated = (
        any(kind.dataset_files(p) for p in parts)
        if not per_image_files
        else any(len(files) > 1 for files in owned.values())
    )
    if not annotated:
        raise ValueError(
            f"{root}: {len(owned)} images but no {plan.format.upper()} annotation files for them; "
            "is this the right --format?"
        )
    by_folder = {image: _folder_side(image) for image in owned}
    if "test" in by_folder.values():
        sides = {image: side or hash_side(image, test_ratio) for image, side in by_folder.items()}
        plan.split_by = "the export's own folders (train + valid -> train, test -> test)"
    else:
        sides = {image: hash_side(image, test_ratio) for image in owned}
        plan.split_by = f"no test folder in the export: a hash of each image's path sends {test_ratio:.0%} to test"
    for image in sorted(owned):
        plan.images[sides[image]].append(image)
        plan.files[sides[image]] |= owned[image]
    for side in SIDES:
        if not plan.images[side]:
            raise ValueError(
                f"{root}: no image went to {side} ({len(owned)} images in all); add images or change --test-ratio"
            )
        plan.files[side] |= kind.shared_files(root, parts)
    used = set().union(*plan.files.values())
    if not per_image_files:
        used |= {str(p.relative_to(root)) for part in parts for p in kind.dataset_files(part)}
    plan.left_out = [rel for rel in list_files(root) if rel not in used]
    plan.left_out += [f"{rel} ({why}: not copied)" for rel, why in skipped_links(root)]
    return plan


def _copy(root: Path, out: Path, plan: ImportPlan) -> list[str]:
    """Copy every side's files (bytes and times kept); write COCO subsets; return notes on dropped entries."""
    notes = []
    with progress(f"import {root.name}", sum(len(plan.files[side]) for side in SIDES), unit="file") as bar:
        for side in SIDES:
            for rel in sorted(plan.files[side]):
                (out / side / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(real_file(root, rel), out / side / rel, follow_symlinks=False)
                bar.update()
            write_side = FORMATS[plan.format].write_side
            if write_side is not None:
                notes += write_side(root, plan.parts, set(plan.images[side]), out / side)
    return notes


def check_name(name: str) -> str:
    """An import name becomes a folder and a params value: keep it to letters, digits, '.', '_' and '-'."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' or '-' (e.g. --name hands-v1)")
    return name


def ignore_in_git(dest: Path) -> None:
    """Keep the copied images out of git the way `dvc add` does (it reuses this line when it runs)."""
    ignore = dest.parent / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if f"/{dest.name}" not in lines:
        ignore.write_text("\n".join([*lines, f"/{dest.name}"]) + "\n", encoding="utf-8")


def import_export(
    src: Path, dest: Path, fmt: str = "auto", test_ratio: float = 0.2, replace: bool = False
) -> tuple[ImportPlan, list[str]]:
    """Copy the export at `src` into `dest`/train and `dest`/test; `src` is only read. Returns the plan and notes."""
    src, dest = Path(src).resolve(), Path(dest).resolve()
    if dest == src or src in dest.parents or dest in src.parents:
        raise ValueError(f"{dest} and {src} overlap; import from a folder outside the project's import folder")
    if dest.exists() and not replace:
        raise ValueError(f"{dest} already exists; pick another --name, or pass --force to replace it")
    plan = plan_import(src, fmt, test_ratio)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        notes = _copy(src, partial, plan)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return plan, list(dict.fromkeys(notes))
