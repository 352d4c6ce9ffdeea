import pandas as pd
import pytest

from rpsdet.failure_loop.mine import choose_slice, rank_slices

# 10 test images: 6 with one hand (all right), 4 with several hands (most errors), 2 of them dark.
TABLE = pd.DataFrame(
    [
        *({"objects": 1, "brightness": "normal", "blur": "sharp", "errors": 0} for _ in range(6)),
        {"objects": 2, "brightness": "dark", "blur": "sharp", "errors": 2},
        {"objects": 3, "brightness": "dark", "blur": "sharp", "errors": 3},
        {"objects": 2, "brightness": "normal", "blur": "blurry", "errors": 1},
        {"objects": 4, "brightness": "normal", "blur": "sharp", "errors": 2},
    ]
)
SLICES = {
    "objects==1": {"images": 6, "map50": 0.95},
    "objects==2": {"images": 2, "map50": 0.50},
    "objects>=3": {"images": 2, "map50": 0.30},
    "objects>=2": {"images": 4, "map50": 0.40},
    "brightness==dark": {"images": 2, "map50": 0.45},
    "brightness==normal": {"images": 8, "map50": 0.70},
    "blur==blurry": {"images": 1, "map50": 0.60},
    "blur==sharp": {"images": 9, "map50": 0.75},
    "box_size==small": {"images": 4, "map50": 0.10},
}


def test_auto_picks_the_slice_losing_the_most_map_mass():
    ranked = rank_slices(SLICES, overall_map50=0.75, per_image=TABLE)
    assert [s.rule for s in ranked][:2] == ["objects>=2", "objects>=3"]  # 0.35 x 4 = 1.4 beats 0.45 x 2 = 0.9
    assert all(not s.rule.startswith("box_size") for s in ranked)
    several = ranked[0]
    assert several.error_share == 1.0 and round(several.gap, 2) == 0.35
    rule, why = choose_slice("auto", ranked, min_images=3)
    assert str(rule) == "objects>=2" and "objects>=2" in why


def test_min_images_excludes_small_slices():
    ranked = rank_slices(SLICES, 0.75, TABLE)
    rule, _ = choose_slice("auto", ranked, min_images=5)
    assert str(rule) == "brightness==normal"  # the only slice of >= 5 images that is below the overall


def test_an_explicit_rule_wins_and_a_bad_one_is_refused():
    ranked = rank_slices(SLICES, 0.75, TABLE)
    assert str(choose_slice("brightness==dark", ranked, 3)[0]) == "brightness==dark"
    with pytest.raises(ValueError, match="slice rule"):
        choose_slice("hands>=2", ranked, 3)


def test_a_test_set_too_small_for_min_images_still_gets_a_slice_marked_weak():
    """A real export's small test set must not stop `dvc repro`: the pick is made and says it is weak."""
    ranked = rank_slices(SLICES, 0.75, TABLE)
    rule, why = choose_slice("auto", ranked, min_images=50)
    assert str(rule) == "objects>=2" and why.startswith("auto, weak evidence") and "failure_slice.select" in why
    level = rank_slices({name: {**m, "map50": 0.75} for name, m in SLICES.items()}, 0.75, TABLE)
    rule, why = choose_slice("auto", level, min_images=3)  # nothing below the whole: where the errors are
    assert str(rule) == "objects>=2" and "most test errors" in why
    with pytest.raises(ValueError, match="nothing to mine"):
        choose_slice("auto", [], min_images=3)
