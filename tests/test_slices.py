import numpy as np
import pytest
from PIL import Image, ImageFilter

from rpsdet.evaluate.slices import SliceRule, SliceThresholds, box_size, image_attributes, standard_rules

T = SliceThresholds()


def checkerboard(value_lo: int, value_hi: int, size: int = 64) -> np.ndarray:
    board = (np.indices((size, size)).sum(axis=0) // 4) % 2
    grey = np.where(board, value_hi, value_lo).astype(np.uint8)
    return np.stack([grey] * 3, axis=-1)


def test_brightness_slices():
    assert image_attributes(np.full((32, 32, 3), 20, np.uint8), 1, T)["brightness"] == "dark"
    assert image_attributes(np.full((32, 32, 3), 230, np.uint8), 1, T)["brightness"] == "bright"
    assert image_attributes(checkerboard(60, 190), 1, T)["brightness"] == "normal"


def test_blur_slice_separates_a_sharp_pattern_from_its_blurred_copy():
    sharp = checkerboard(0, 255)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(3)))
    assert image_attributes(sharp, 1, T)["blur"] == "sharp"
    assert image_attributes(blurred, 1, T)["blur"] == "blurry"


def test_rules_parse_match_and_name_the_standard_slices():
    names = [str(r) for r in standard_rules()]
    assert names[:5] == ["objects==0", "objects==1", "objects==2", "objects>=3", "objects>=2"]
    assert "brightness==dark" in names and "blur==blurry" in names
    several = SliceRule.parse("objects >= 2")
    assert [several.matches({"objects": n}) for n in (0, 1, 2, 5)] == [False, False, True, True]
    assert SliceRule.parse("brightness=dark").matches({"brightness": "dark"})
    # Every image falls in exactly one of the four object buckets.
    buckets = [r for r in standard_rules() if r.family == "objects" and str(r) != "objects>=2"]
    assert all(sum(r.matches({"objects": n}) for r in buckets) == 1 for n in range(7))


@pytest.mark.parametrize("text", ["objects>=two", "brightness>=dark", "colour==red", "brightness==dim", "objects"])
def test_bad_rules_are_refused_with_a_hint(text):
    with pytest.raises(ValueError, match="slice rule"):
        SliceRule.parse(text)


def test_coco_box_sizes():
    assert box_size((0, 0, 31, 31)) == "small"  # 961 px^2 < 32^2
    assert box_size((0, 0, 32, 32)) == "medium"  # exactly 32^2 is medium, as in COCO
    assert box_size((0, 0, 100, 100)) == "large"


def test_sharpness_does_not_depend_on_resolution():
    """The same sharp scene at 240 px and at 960 px lands in the same blur bucket (measured at one scale)."""
    import numpy as np

    from rpsdet.data.image_measures import SliceThresholds, image_looks

    def checkerboard(side: int) -> np.ndarray:
        cells = (np.indices((side, side)) // (side // 12)).sum(axis=0) % 2
        return np.repeat((cells * 200 + 20).astype(np.uint8)[..., None], 3, axis=2)

    small, large = (image_looks(checkerboard(s), SliceThresholds()) for s in (240, 960))
    assert small["blur"] == large["blur"] == "sharp"
    assert abs(large["laplacian_var"] - small["laplacian_var"]) < 0.2 * small["laplacian_var"]
