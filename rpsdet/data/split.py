"""Deterministic, seeded train/val split by image id (stable when images are added or reordered)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from rpsdet.data.coco import ImageRecord, read_coco, write_coco


def split_ids(ids: list[int], train_ratio: float, seed: int) -> tuple[set[int], set[int]]:
    """Rank ids by a seeded hash and cut: the same ids and seed always give the same split."""
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"split.train_ratio must be between 0 and 1, got {train_ratio}")
    ranked = sorted(ids, key=lambda i: hashlib.sha1(f"{seed}:{i}".encode()).hexdigest())
    cut = int(round(len(ranked) * train_ratio))
    return set(ranked[:cut]), set(ranked[cut:])


def rebase(records: list[ImageRecord], from_dir: Path, to_dir: Path) -> list[ImageRecord]:
    """Point file names (relative to from_dir) at the same images, relative to to_dir: references, not copies."""
    out = []
    for r in records:
        target = os.path.relpath((from_dir / r.file_name).resolve(), to_dir.resolve())
        out.append(ImageRecord(r.id, target, r.width, r.height, list(r.boxes), list(r.labels), dict(r.flags)))
    return out


def write_splits(train_source: Path, test_source: Path, out_dir: Path, train_ratio: float, seed: int) -> dict:
    """train/val from the train source, test = the whole test source; returns image counts per split."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_recs = rebase(read_coco(train_source / "annotations.json"), train_source, out_dir)
    test_recs = rebase(read_coco(test_source / "annotations.json"), test_source, out_dir)
    train_ids, _ = split_ids([r.id for r in train_recs], train_ratio, seed)
    splits = {
        "train": [r for r in train_recs if r.id in train_ids],
        "val": [r for r in train_recs if r.id not in train_ids],
        "test": test_recs,
    }
    for name, recs in splits.items():
        write_coco(out_dir / f"{name}.json", recs)
    return {name: len(recs) for name, recs in splits.items()}
