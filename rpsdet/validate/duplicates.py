"""Exact duplicates (same bytes) and near-duplicates (perceptual hash within a few bits), inside one source and
against a reference source (a test image that is also in train is leakage)."""
from __future__ import annotations

import numpy as np

from rpsdet.validate.images import ImageInfo

CHUNK = 1024  # rows per block of the pairwise distance matrix (bounded memory)


def hamming(a: list[int], b: list[int]) -> np.ndarray:
    """Pairwise bit distances between two lists of 64-bit hashes, shape (len(a), len(b))."""
    aa = np.array(a, dtype=np.uint64).reshape(-1, 1)
    bb = np.array(b, dtype=np.uint64).reshape(1, -1)
    if aa.size == 0 or bb.size == 0:
        return np.zeros((aa.shape[0], bb.shape[1]), dtype=np.uint8)
    return np.concatenate([np.bitwise_count(aa[i:i + CHUNK] ^ bb) for i in range(0, len(aa), CHUNK)])


def within(infos: list[ImageInfo], max_distance: int) -> dict[str, tuple[str, str, int]]:
    """Later copies -> (kind, the first image they copy, distance). Inputs are in a stable (sorted) order."""
    found: dict[str, tuple[str, str, int]] = {}
    first_by_hash: dict[str, str] = {}
    for info in infos:
        if info.sha256 in first_by_hash:
            found[info.path] = ("exact_duplicate", first_by_hash[info.sha256], 0)
        else:
            first_by_hash[info.sha256] = info.path
    rest = [i for i in infos if i.path not in found]
    dist = hamming([i.dhash for i in rest], [i.dhash for i in rest])
    for row in range(len(rest)):
        if rest[row].path in found:
            continue
        for col in np.flatnonzero(dist[row, row + 1:] <= max_distance) + row + 1:
            found.setdefault(rest[col].path, ("near_duplicate", rest[row].path, int(dist[row, col])))
    return found


def against(infos: list[ImageInfo], reference: list[ImageInfo], max_distance: int) -> dict[str, tuple[str, str, int]]:
    """Images that copy a reference image -> ('exact' or 'near', that reference image, bit distance)."""
    by_hash = {r.sha256: r.path for r in reference}
    found = {i.path: ("exact", by_hash[i.sha256], 0) for i in infos if i.sha256 in by_hash}
    rest = [i for i in infos if i.path not in found]
    dist = hamming([i.dhash for i in rest], [r.dhash for r in reference])
    for row, info in enumerate(rest):
        if dist.shape[1] and dist[row].min() <= max_distance:
            col = int(dist[row].argmin())
            found[info.path] = ("near", reference[col].path, int(dist[row, col]))
    return found
