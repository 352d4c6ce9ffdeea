"""The copy search: multi-index hashing finds exactly what comparing every pair finds, without a pairwise matrix."""

import hashlib
import tracemalloc
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rpsdet.validate import duplicates
from rpsdet.validate.images import THUMB, ImageInfo

THUMB_BYTES = THUMB * THUMB * 3


def info(n: int, dhash: int, thumb: bytes) -> ImageInfo:
    """A decoded image's fingerprint; identical fingerprints stand for identical files (same sha256)."""
    sha = hashlib.sha256(dhash.to_bytes(8, "big") + thumb).hexdigest()
    return ImageInfo(f"images/{n:06d}.jpg", sha256=sha, raw_size=(64, 48), dhash=dhash, thumb=thumb)


def bits(a: ImageInfo, b: ImageInfo) -> int:
    return bin(a.dhash ^ b.dhash).count("1")


def diff(a: ImageInfo, b: ImageInfo) -> float:
    return float(np.abs(np.frombuffer(a.thumb, np.uint8).astype(int) - np.frombuffer(b.thumb, np.uint8)).mean())


def brute_within(infos: list[ImageInfo], d: int, t: float) -> dict[str, tuple[str, str, int]]:
    """The definition, pair by pair: exact copies point at the first copy; a near copy at the first earlier image
    that is not itself a copy."""
    found, first, leaders = {}, {}, []
    for i in infos:
        if i.sha256 in first:
            found[i.path] = ("exact", first[i.sha256], 0)
            continue
        first[i.sha256] = i.path
    for i in (i for i in infos if i.path not in found):
        leader = next((j for j in leaders if bits(i, j) <= d and diff(i, j) <= t), None)
        if leader is None:
            leaders.append(i)
        else:
            found[i.path] = ("near", leader.path, bits(i, leader))
    return found


def brute_against(infos: list[ImageInfo], ref: list[ImageInfo], d: int, t: float) -> dict[str, tuple[str, str, int]]:
    found = {}
    for i in infos:
        exact = next((r for r in ref if r.sha256 == i.sha256), None)
        near = [(bits(i, r), n) for n, r in enumerate(ref) if bits(i, r) <= d and diff(i, r) <= t]
        if exact is not None:
            found[i.path] = ("exact", exact.path, 0)
        elif near:
            found[i.path] = ("near", ref[min(near)[1]].path, min(near)[0])
    return found


def as_tuples(found: dict[str, duplicates.Match]) -> dict[str, tuple[str, str, int]]:
    return {k: (m.kind, m.other, m.distance) for k, m in found.items()}


@st.composite
def families(draw) -> list[ImageInfo]:
    """A few base pictures, each with variants a few hash bits and thumbnail levels away (and exact repeats)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for _ in range(draw(st.integers(1, 6))):
        base_hash = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(2))
        base = rng.integers(0, 256, THUMB_BYTES)
        for _ in range(draw(st.integers(1, 6))):
            flips = rng.choice(64, size=int(rng.integers(0, 9)), replace=False)
            h = base_hash ^ sum(1 << int(b) for b in flips)
            thumb = (base + rng.integers(-1, 2, THUMB_BYTES) * int(rng.integers(0, 25))).clip(0, 255)
            out.append((h, thumb.astype(np.uint8).tobytes()))
            if rng.random() < 0.2:
                out.append(out[-1])
    order = rng.permutation(len(out))
    return [info(n, *out[k]) for n, k in enumerate(order)]


@settings(max_examples=60, deadline=None)
@given(families(), st.integers(0, 8), st.sampled_from([5.0, 10.0, 20.0]))
def test_within_matches_the_pair_by_pair_definition(infos, d, t):
    assert as_tuples(duplicates.within(Path("."), infos, d, t)) == brute_within(infos, d, t)


@settings(max_examples=60, deadline=None)
@given(families(), st.integers(0, 8), st.sampled_from([5.0, 10.0, 20.0]), st.floats(0.2, 0.8))
def test_against_matches_the_pair_by_pair_definition(infos, d, t, share):
    cut = max(1, int(len(infos) * share))
    test, ref = infos[:cut], infos[cut:]
    assert as_tuples(duplicates.against(Path("."), test, Path("."), ref, d, t)) == brute_against(test, ref, d, t)


def test_bands_cover_the_hash_and_every_close_pair_shares_one():
    for d in range(0, 33):
        bands = duplicates.bands(d)
        assert len(bands) == d + 1 and sum(bin(mask).count("1") for _, mask in bands) == 64
        assert bands[-1][0] + bin(bands[-1][1]).count("1") == 64


def test_a_hundred_thousand_images_without_a_pairwise_matrix():
    """10^5 images: the old N x N distance matrix alone was 10^10 bytes. The index finds the planted copies in
    memory that grows with N (thumbnails are the largest part: 768 bytes each)."""
    rng = np.random.default_rng(0)
    n, planted = 100_000, 500
    hashes = rng.integers(0, 2**64, n, dtype=np.uint64)
    thumbs = [rng.integers(0, 256, THUMB_BYTES, dtype=np.uint8).tobytes() for _ in range(64)]
    infos = [
        ImageInfo(f"images/{k:06d}.jpg", sha256=f"{k:064x}", dhash=int(h), thumb=thumbs[k % 64])
        for k, h in enumerate(hashes)
    ]
    for k in range(planted):  # the last images copy early ones, 1..4 bits away
        src, dst = k * 7, n - planted + k
        flips = sum(1 << int(b) for b in rng.choice(64, size=1 + k % 4, replace=False))
        infos[dst] = ImageInfo(
            infos[dst].path, sha256=infos[dst].sha256, dhash=infos[src].dhash ^ flips, thumb=infos[src].thumb
        )
    tracemalloc.start()
    found = duplicates.within(Path("."), infos, 4, 10.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    for k in range(planted):
        assert found[infos[n - planted + k].path].other == infos[k * 7].path
    assert len(found) == planted  # random 64-bit hashes are ~32 bits apart: nothing else is near
    assert peak < 400 * 2**20, f"peak {peak / 2**20:.0f} MiB"
