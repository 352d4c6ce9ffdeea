"""One COCO JSON per imported side, holding the export's own entries for that side's images.

Why rewrite the JSON when every other file is copied: a single-folder export is cut in two, Roboflow keeps one
`_annotations.coco.json` per split folder (two of them land on the train side), and the COCO reader looks for the
JSON at the source root. Entries keep every field the tool wrote; only ids are renumbered (so merged files cannot
collide) and `file_name` becomes the copied image's path relative to the side's root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rpsdet.data.formats.base import list_images, read_text
from rpsdet.data.formats.coco import coco_files, resolve_image


def _load(path: Path, root: Path) -> dict | None:
    """The parsed file, or None when it is some other JSON; a broken file stops the import (its labels are lost)."""
    try:
        data = json.loads(read_text(path))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(
            f"{path.relative_to(root)}: not valid JSON ({exc}); re-export the COCO file from the labeling tool"
        ) from None
    return data if isinstance(data, dict) and isinstance(data.get("images"), list) else None


def _list(data: dict, key: str) -> list[dict]:
    value = data.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _hashable(value: object) -> object:
    return value if isinstance(value, (int, str, float)) or value is None else repr(value)


def _placer(path: Path, part: Path, root: Path, side_images: set[str]) -> Callable[[object], str | None]:
    """file_name in `path` -> the copied image's path on this side; "" on the other side; None when no image."""
    images, prefix = set(list_images(part)), part.relative_to(root)

    def place(file_name: object) -> str | None:
        rel = resolve_image(file_name, path.parent, part, images) if isinstance(file_name, str) else None
        if rel is None:
            return None
        return str(prefix / rel) if str(prefix / rel) in side_images else ""

    return place


def _refuse_shared_ids_across_sides(placed: list[tuple[dict, str | None]], where: Path) -> None:
    """Images that share an id cannot have their annotations told apart; cut between train and test, each side
    would see one image holding both images' boxes. Stop the import there rather than mislabel silently."""
    sides: dict[object, set[bool]] = {}
    for entry, rel in placed:
        if rel is not None:
            sides.setdefault(_hashable(entry.get("id")), set()).add(rel == "")
    split = sorted(str(k) for k, v in sides.items() if len(v) > 1)
    if split:
        raise ValueError(
            f"{where}: image id(s) {', '.join(split[:5])} are shared by several images, which the "
            "import would split between train and test; give every image its own id and re-export"
        )


def _merge(
    merged: dict, cat_ids: dict[str, int], data: dict, where: Path, place: Callable[[object], str | None]
) -> list[str]:
    """Append one file's entries for this side to `merged`, categories unified by name; return notes."""
    notes = []
    for key, value in data.items():
        merged.setdefault(key, value)  # info, licenses, ...: the first file's
    cat_map = {}
    for cat in _list(data, "categories"):
        name = str(cat.get("name", ""))
        if name not in cat_ids:
            cat_ids[name] = len(cat_ids) + 1
            merged["categories"].append({**cat, "id": cat_ids[name]})
        cat_map[_hashable(cat.get("id"))] = cat_ids[name]
    image_map: dict[object, int] = {}
    placed = [(entry, place(entry.get("file_name"))) for entry in _list(data, "images")]
    _refuse_shared_ids_across_sides(placed, where)
    for entry, rel in placed:
        if rel is None:
            notes.append(
                f"{where}: image entry {str(entry.get('file_name'))[:60]!r} names no image of the export; left out"
            )
        elif rel:  # entries sharing an id keep sharing one: the validator quarantines them all, with the reason
            new_id = image_map.setdefault(_hashable(entry.get("id")), len(merged["images"]) + 1)
            merged["images"].append({**entry, "id": new_id, "file_name": rel})
    for ann in _list(data, "annotations"):
        image_id = image_map.get(_hashable(ann.get("image_id")))
        if image_id is None:
            continue  # the other side's image, or none (the validator would see no image either)
        category = cat_map.get(_hashable(ann.get("category_id")))
        if category is None:
            notes.append(
                f"{where}: an annotation points at category_id {ann.get('category_id')!r}, which "
                "'categories' does not list; the validator will report it as an unknown class"
            )
            category = f"unknown:{ann.get('category_id')}"
        merged["annotations"].append(
            {**ann, "id": len(merged["annotations"]) + 1, "image_id": image_id, "category_id": category}
        )
    return notes


def write_side_json(root: Path, parts: list[Path], side_images: set[str], out: Path) -> list[str]:
    """Write `out` with the entries of `side_images` (paths relative to `root`) from every COCO JSON of `parts`;
    return notes on what cannot be carried (other JSON, entries naming no image, unknown categories)."""
    merged: dict = {"images": [], "annotations": [], "categories": []}
    cat_ids: dict[str, int] = {}  # category name -> id in the written file
    notes: list[str] = []
    used = 0
    for part in parts:
        for path in coco_files(part):
            data, where = _load(path, root), path.relative_to(root)
            if data is None:
                notes.append(f"{where}: not a COCO detection file (no 'images' list); left out")
                continue
            used += 1
            notes += _merge(merged, cat_ids, data, where, _placer(path, part, root, side_images))
    if not used:
        raise ValueError(f"{root}: no COCO detection JSON (with an 'images' list) found; re-export it as COCO")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1, ensure_ascii=False), encoding="utf-8")
    return notes
