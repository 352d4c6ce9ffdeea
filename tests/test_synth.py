import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from rpsdet.data.formats.voc import read_voc
from rpsdet.data.synth import SceneStyle, hand_counts, render_scene, write_source

PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
PRETRAIN_STYLE = SceneStyle.from_params(PARAMS["pretrain"]["synth"]["style"])


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


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


def test_the_pretraining_style_is_deterministic_and_draws_other_scenes_than_the_demo(tmp_path):
    kwargs = dict(prefix="p", count=6, multi_fraction=0.5, width=160, height=120, seed=3)
    write_source(tmp_path / "a", style=PRETRAIN_STYLE, **kwargs)
    write_source(tmp_path / "b", style=PRETRAIN_STYLE, **kwargs)  # albumentations' camera effects are seeded too
    write_source(tmp_path / "demo", **kwargs)
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    a, demo = _tree_digest(tmp_path / "a"), _tree_digest(tmp_path / "demo")
    assert all(a[name] != demo[name] for name in a if name.endswith(".jpg"))


@pytest.mark.parametrize("seed", range(8))
def test_pretraining_boxes_are_tight_around_the_drawn_hand_pixels(seed):
    img, hands = render_scene(np.random.default_rng(seed), 320, 240, n_hands=1 + seed % 4, style=PRETRAIN_STYLE)
    assert hands
    for hand in hands:
        ys, xs = np.nonzero(hand.mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == hand.box
        assert np.asarray(img)[hand.mask].std() > 0


def _spread(style: SceneStyle, n: int = 48) -> dict[str, tuple[float, float]]:
    """Range of single-hand sizes (box side / image height) and of image brightness over n scenes."""
    sizes, brightness = [], []
    for i in range(n):
        img, hands = render_scene(np.random.default_rng([11, i]), 160, 120, 1, style=style)
        x1, y1, x2, y2 = hands[0].box
        sizes.append(max(x2 - x1, y2 - y1) / 120)
        brightness.append(float(np.asarray(img).mean()))
    return {"size": (min(sizes), max(sizes)), "brightness": (min(brightness), max(brightness))}


def test_the_pretraining_set_spans_more_hand_sizes_and_lighting_than_the_demo():
    demo, wide = _spread(SceneStyle()), _spread(PRETRAIN_STYLE)
    for key in ("size", "brightness"):
        assert wide[key][0] < demo[key][0] and wide[key][1] > demo[key][1], (key, demo[key], wide[key])


@pytest.mark.parametrize("style", [{"backgrounds": ["sky"]}, {"backgrounds": []}, {"camera": {"fog": 0.2}}])
def test_unknown_style_names_are_refused(style):
    with pytest.raises(ValueError, match="synth style"):
        SceneStyle.from_params(style)
