import hashlib
from pathlib import Path

import numpy as np
import pytest

from rpsdet.data.synth import hand_counts, render_scene, write_source
from rpsdet.data.voc import read_voc


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    kwargs = dict(prefix="s", count=6, multi_fraction=0.5, width=160, height=120)
    write_source(tmp_path / "a", seed=7, **kwargs)
    write_source(tmp_path / "b", seed=7, **kwargs)
    write_source(tmp_path / "c", seed=8, **kwargs)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


@pytest.mark.parametrize("seed", range(12))
def test_boxes_are_tight_around_the_drawn_hand_pixels(seed):
    img, hands = render_scene(np.random.default_rng(seed), 320, 240, n_hands=1 + seed % 4)
    assert hands, "every scene places at least one hand"
    for hand in hands:
        x1, y1, x2, y2 = hand.box
        ys, xs = np.nonzero(hand.mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2)
        # The hand was actually painted: its pixels differ from a blank background in the final image.
        assert np.asarray(img)[hand.mask].std() > 0


def test_multi_hand_fraction_is_exact_and_counts_are_bounded():
    counts = hand_counts(200, 0.4, max_hands=4, seed=3)
    assert sum(c > 1 for c in counts) == 80
    assert min(counts) == 1 and max(counts) <= 4


def test_source_is_voc_with_one_annotation_per_image(tmp_path):
    stats = write_source(tmp_path, prefix="t", count=5, multi_fraction=0.4, seed=1, width=160, height=120)
    images = sorted((tmp_path / "JPEGImages").glob("*.jpg"))
    assert len(images) == 5 == stats["images"]
    total = 0
    for image in images:
        rec = read_voc(tmp_path / "Annotations" / f"{image.stem}.xml")
        assert rec.filename == image.name and (rec.width, rec.height) == (160, 120)
        total += len(rec.objects)
        for obj in rec.objects:
            assert obj.name in {"rock", "paper", "scissors"}
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 <= 160 and 0 <= y1 < y2 <= 120
    assert total == stats["hands"]
