"""YOLO txt sources (Ultralytics, Roboflow, CVAT): one `class cx cy w h` line per box, fractions of the image,
labels in `labels/` mirroring `images/` (or beside the images), class names from data.yaml or classes.txt."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord
from rpsdet.data.formats.base import (
    DatasetFormat,
    Problem,
    RawAnnotation,
    RawObject,
    Source,
    inside,
    list_files,
    list_images,
    read_text,
    suffix_of,
)

NAME_FILES = ("classes.txt", "obj.names")


def _names_from_yaml(path: Path) -> list[str] | None:
    try:
        data = yaml.safe_load(read_text(path))
    except (OSError, yaml.YAMLError):
        return None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in names.items())
        except (TypeError, ValueError):
            return None
        if [k for k, _ in ordered] == list(range(len(ordered))):
            return [v for _, v in ordered]
    return None


def class_names(root: Path) -> tuple[list[str] | None, str]:
    """Class names and the file they came from; (None, reason) when no usable names file exists."""
    for path in sorted(p for p in [*root.glob("*.yaml"), *root.glob("*.yml")] if inside(root, p)):
        names = _names_from_yaml(path)
        if names is not None:
            return names, path.name
    for name in NAME_FILES:
        if (root / name).is_file() and inside(root, root / name):  # never a link out of the source
            lines = [ln.strip() for ln in read_text(root / name).splitlines()]
            return [ln for ln in lines if ln], name
    return None, "no data.yaml / classes.txt with class names"


def label_path(root: Path, image: str) -> Path:
    """images/a/b.jpg -> labels/a/b.txt (Ultralytics layout); otherwise the .txt beside the image."""
    parts = Path(image).parts
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        mirrored = root.joinpath(*parts[:i], "labels", *parts[i + 1 :]).with_suffix(".txt")
        if mirrored.is_file() or not (root / image).with_suffix(".txt").is_file():
            return mirrored
    return (root / image).with_suffix(".txt")


def parse_yolo_text(text: str, file: str, names: list[str] | None) -> RawAnnotation | str:
    """All lines of one label file -> an annotation with fractional boxes, or the reason it is unusable."""
    objects = []
    for n, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 5:
            return f"line {n} has {len(tokens)} values, expected 5 (class cx cy w h); polygons are not supported"
        try:
            cls = int(tokens[0])
            cx, cy, w, h = (float(t) for t in tokens[1:])
        except ValueError:
            return f"line {n} {line.strip()[:60]!r} is not 'class cx cy w h' numbers"
        if not all(math.isfinite(v) for v in (cx, cy, w, h)):
            return f"line {n} holds a value that is not a finite number"
        name = names[cls] if names is not None and 0 <= cls < len(names) else str(cls)
        if min(cx, cy, w, h) < 0:  # fractions of the image are never negative: which box was meant is unknowable
            objects.append(
                RawObject(name, None, f"line {n} {line.strip()[:60]!r} holds a negative value", "negative_box")
            )
            continue
        objects.append(RawObject(name, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
    return RawAnnotation(file, objects=objects, normalized=True)


def read_yolo_source(root: Path) -> Source:
    root = Path(root)
    src = Source(root, "yolo", list_images(root))
    src.image_root = "images" if (root / "images").is_dir() and all(i.startswith("images/") for i in src.images) else ""
    names, names_file = class_names(root)
    if names is None:
        src.problems.append(
            Problem(
                "",
                "",
                "missing_class_names",
                f"{names_file}: class ids are used as names; add data.yaml (names: [...]) "
                "or map ids through classes.aliases",
            )
        )
    used: set[Path] = set()
    for image in src.images:
        path = label_path(root, image)
        if not path.is_file() or not inside(root, path):  # a link out of the source is reported, never read
            continue
        used.add(path)
        file = str(path.relative_to(root))
        try:
            parsed = parse_yolo_text(read_text(path), file, names)
        except OSError as exc:
            parsed = f"cannot be read ({exc.strerror})"
        if isinstance(parsed, str):
            src.problems.append(Problem(file, image, "unparseable_annotation", f"{path.name}: {parsed}"))
        else:
            src.annotations[image] = parsed
    for path in (root / rel for rel in list_files(root) if rel.endswith(".txt")):
        if path in used or path.name in NAME_FILES:
            continue
        src.problems.append(
            Problem(
                str(path.relative_to(root)),
                "",
                "annotation_without_image",
                f"no image for {path.name}; add the image or remove the label file",
            )
        )
    return src


def _detect(root: Path, files: list[str]) -> bool:
    names = {rel.rsplit("/", 1)[-1] for rel in files}
    return (
        (root / "labels").is_dir()
        or bool(names & {*NAME_FILES, "data.yaml"})
        or any(suffix_of(rel) == ".txt" for rel in files)
    )


def _write_image(out: Path, rec: ImageRecord, name: str) -> None:
    lines = [
        f"{label} {(x1 + x2) / 2 / rec.width:.6f} {(y1 + y2) / 2 / rec.height:.6f} "
        f"{(x2 - x1) / rec.width:.6f} {(y2 - y1) / rec.height:.6f}"
        for (x1, y1, x2, y2), label in zip(rec.boxes, rec.labels)
    ]
    path = out / "labels" / f"{Path(name).stem}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")  # empty file = a negative image


def _finish(out: Path, records: list[ImageRecord], names: dict[int, str]) -> None:
    """Ultralytics reads train/val relative to data.yaml; names in class-id order."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(
        f"train: images\nval: images\nnc: {len(CLASS_NAMES)}\nnames: [{', '.join(CLASS_NAMES)}]\n", encoding="utf-8"
    )


def _shared_files(root: Path, parts: list[Path]) -> set[str]:
    """Files every imported side needs: class names (data.yaml, classes.txt) at the export root or a split folder."""
    found = set()
    for folder in {root, *parts}:
        for path in [*folder.glob("*.yaml"), *folder.glob("*.yml"), *(folder / n for n in NAME_FILES)]:
            if path.is_file() and inside(root, path):
                found.add(str(path.relative_to(root)))
    return found


FORMAT = DatasetFormat(
    name="yolo",
    detect_order=20,
    detect=_detect,
    read=read_yolo_source,
    image_dir="images",
    write_image=_write_image,
    finish=_finish,
    shared_files=_shared_files,
    support_names=frozenset({*NAME_FILES, "data.yaml", "data.yml"}),
)
