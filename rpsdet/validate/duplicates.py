"""Exact copies (same pixels) and near-duplicates (dHash within a few bits, confirmed on a colour thumbnail),
inside one source and against a reference source (a test image that copies a train image is leakage).

No pairwise matrix: near-duplicate candidates come from multi-index hashing, so memory stays linear in the number
of images (a 10^5 x 10^5 distance matrix would need 10 GB).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rpsdet.validate.images import THUMB, ImageInfo, pixel_digest

HASH_BITS = 64


@dataclass(frozen=True)
class Match:
    kind: str  # "exact" (same pixels) or "near"
    other: str  # the image it copies: an earlier image of the same source, or a reference image
    distance: int  # dHash bits (of 64) that differ
    diff: float  # mean difference of the colour thumbnails, 0..255


def bands(max_distance: int) -> list[tuple[int, int]]:
    """(shift, mask) of max_distance + 1 contiguous bit bands covering the 64-bit hash."""
    count = min(max_distance + 1, HASH_BITS)
    widths = [HASH_BITS // count + (i < HASH_BITS % count) for i in range(count)]
    out, shift = [], 0
    for width in widths:
        out.append((shift, (1 << width) - 1))
        shift += width
    return out


def thumb_diff(thumbs: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0..255) of the colour thumbnails of each pair."""
    return np.abs(thumbs[a].astype(np.int16) - thumbs[b]).mean(axis=1) if len(a) else np.zeros(0)


def near_pairs(infos: list[ImageInfo], max_distance: int, max_diff: float) -> list[tuple[int, int, int, float]]:
    """(a, b, bit distance, thumbnail difference) of every pair a < b of images near in hash and in pixels, sorted.

    Multi-index hashing: two hashes within d bits agree exactly on at least one of d + 1 bands (pigeonhole). For
    each band the images are sorted by that band, so equal bands sit next to each other, and pairs are read off at
    offsets 1, 2, ... within those runs. No pairwise matrix; far-apart hashes are never compared."""
    hashes = np.array([i.dhash for i in infos], dtype=np.uint64)
    thumbs = np.frombuffer(b"".join(i.thumb for i in infos), dtype=np.uint8).reshape(len(infos), THUMB * THUMB * 3)
    found: set[tuple[int, int, int, float]] = set()  # a pair sharing several bands is found once per band
    for shift, mask in bands(max_distance):
        keys = (hashes >> np.uint64(shift)) & np.uint64(mask)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        for offset in range(1, len(keys)):
            same = keys[offset:] == keys[:-offset]
            if not same.any():  # runs of equal bands are contiguous: none is longer than this offset
                break
            a, b = order[:-offset][same], order[offset:][same]
            dist = np.bitwise_count(hashes[a] ^ hashes[b])
            a, b, dist = a[dist <= max_distance], b[dist <= max_distance], dist[dist <= max_distance]
            diff = thumb_diff(thumbs, a, b)
            ok = diff <= max_diff
            found.update(
                zip(np.minimum(a, b)[ok].tolist(), np.maximum(a, b)[ok].tolist(), dist[ok].tolist(), diff[ok].tolist())
            )
    return sorted(found)


def exact_keys(
    items: list[tuple[Path, ImageInfo]], digest: Callable[[Path, ImageInfo], str] = pixel_digest
) -> list[str]:
    """One key per image, equal exactly for images with the same pixels: the file's hash, or, where files differ
    but dHash, thumbnail and size all agree, a hash of the decoded pixels (only those few are decoded again)."""
    keys = [info.sha256 for _, info in items]
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for n, (_, info) in enumerate(items):
        buckets[(info.dhash, info.thumb, info.size)].append(n)
    for members in buckets.values():
        if len({keys[n] for n in members}) > 1:
            for n in members:
                keys[n] = digest(*items[n])
    return keys


def within(root: Path, infos: list[ImageInfo], max_distance: int, max_diff: float) -> dict[str, Match]:
    """Copies inside one source, in its stable (sorted) order: a later image -> the earlier image it copies.

    Exact copies point at the first image with the same pixels. A near copy points at the first earlier image
    that was not itself matched (greedy leaders): quarantining every near copy then keeps one image of each
    group, and never one whose only look-alike was itself quarantined.
    """
    found: dict[str, Match] = {}
    first: dict[str, str] = {}
    for info, key in zip(infos, exact_keys([(root, i) for i in infos])):
        if key in first:
            found[info.path] = Match("exact", first[key], 0, 0.0)
        else:
            first[key] = info.path
    rest = [i for i in infos if i.path not in found]
    earlier: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for a, b, dist, diff in near_pairs(rest, max_distance, max_diff):
        earlier[b].append((a, dist, diff))
    matched: set[int] = set()
    for b in sorted(earlier):  # ascending, so every earlier image is already settled as leader or copy
        hit = next(((a, dist, diff) for a, dist, diff in earlier[b] if a not in matched), None)
        if hit is not None:
            matched.add(b)
            found[rest[b].path] = Match("near", rest[hit[0]].path, hit[1], hit[2])
    return found


def against(
    root: Path, infos: list[ImageInfo], ref_root: Path, reference: list[ImageInfo], max_distance: int, max_diff: float
) -> dict[str, Match]:
    """Images that copy a reference image -> the closest one (exact first, then fewest differing bits)."""
    items = [(ref_root, r) for r in reference] + [(root, i) for i in infos]
    keys = exact_keys(items)
    by_key: dict[str, str] = {}
    for (_, ref), key in zip(items[: len(reference)], keys):
        by_key.setdefault(key, ref.path)
    found = {
        info.path: Match("exact", by_key[key], 0, 0.0)
        for info, key in zip(infos, keys[len(reference) :])
        if key in by_key
    }
    best: dict[int, tuple[int, int, float]] = {}
    for a, b, dist, diff in near_pairs([i for _, i in items], max_distance, max_diff):
        if a < len(reference) <= b and (b not in best or (dist, a) < best[b][:2]):
            best[b] = (dist, a, diff)
    for b, (dist, a, diff) in best.items():
        found.setdefault(infos[b - len(reference)].path, Match("near", reference[a].path, dist, diff))
    return found
