"""Training images decoded at the network input size: boxes scale exactly with the pixels, the augmentation
means what it meant on the full-size image, and train.cache: ram changes nothing but the speed.

The "objects" are solid rectangles, each in its own colour, on grey JPEGs: a box is right when it frames where
its colour landed.
"""

import random

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import ImageRecord, write_coco
from rpsdet.model.preprocess import A, letterbox
from rpsdet.train.dataset import DetectionDataset, cache_bytes, load_reduced
from rpsdet.train.loop import TrainConfig
from rpsdet.train.transforms import train_transform

SIZE = 256
COLOURS = [(230, 30, 30), (30, 200, 40), (40, 50, 220)]
LABELS = np.asarray([0, 1, 2])
# 640x640 as exports deliver them; 643x481 is not a multiple of the JPEG draft's scale; 200x150 is below SIZE.
SHAPES = [(640, 640), (640, 480), (643, 481), (200, 150)]


def _boxes(width: int, height: int) -> np.ndarray:
    rel = np.asarray([[0.06, 0.06, 0.47, 0.40], [0.55, 0.16, 0.94, 0.96], [0.19, 0.45, 0.52, 0.98]])
    return np.round(rel * [width, height, width, height]).astype(np.float32)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jpegs")
    records = []
    for i, (width, height) in enumerate(SHAPES):
        pixels = np.full((height, width, 3), 128, np.uint8)
        boxes = _boxes(width, height)
        for colour, (x1, y1, x2, y2) in zip(COLOURS, boxes.astype(int)):
            pixels[y1:y2, x1:x2] = colour
        rec = ImageRecord(
            i + 1, f"{width}x{height}.jpg", width, height, [tuple(b) for b in boxes.tolist()], LABELS.tolist()
        )
        Image.fromarray(pixels).save(root / rec.file_name, quality=92)
        records.append(rec)
    write_coco(root / "train.json", records)
    return root / "train.json"


def _colour_box(image: np.ndarray, colour) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.abs(image.astype(int) - colour).max(axis=-1) < 40)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("shape", SHAPES)
def test_reduced_decode_lands_pixels_and_boxes_where_the_letterbox_puts_them(jpegs, shape):
    path = jpegs.parent / f"{shape[0]}x{shape[1]}.jpg"
    boxes = _boxes(*shape)
    image, scaled = load_reduced(path, boxes, SIZE)

    full = np.asarray(Image.open(path).convert("RGB"))
    if max(shape) <= SIZE:  # small images are left alone (the letterbox enlarges them later, as before)
        assert np.array_equal(image, full) and np.array_equal(scaled, boxes)
        return
    letterboxed = A.Compose(letterbox(SIZE)[:1], bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))
    ref = letterboxed(image=full, bboxes=boxes, labels=LABELS)
    assert image.shape == ref["image"].shape and max(image.shape[:2]) == SIZE
    # The letterbox's own box arithmetic; within half a pixel when a side is not a multiple of the draft's scale.
    np.testing.assert_allclose(scaled, ref["bboxes"], atol=1e-3 if shape[0] % 8 == shape[1] % 8 == 0 else 0.5)
    for colour, box in zip(COLOURS, scaled):
        assert np.abs(np.asarray(_colour_box(image, colour)) - box).max() <= 1.0  # each box frames its colour
    assert np.abs(image.astype(int) - ref["image"]).mean() < 1.0  # same picture, 0..255 levels


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_augmenting_the_reduced_image_means_what_augmenting_the_full_one_does(jpegs, shape):
    """Same seed, same flip / zoom / shift / colour: boxes agree within a pixel of the network input."""
    path = jpegs.parent / f"{shape[0]}x{shape[1]}.jpg"
    boxes = _boxes(*shape)
    full = np.asarray(Image.open(path).convert("RGB"))
    small, scaled = load_reduced(path, boxes, SIZE)
    transform = train_transform(SIZE, scale_jitter=0.25, color_jitter=0.3)
    for seed in range(12):
        transform.set_random_seed(seed)
        a = transform(image=full, bboxes=boxes, labels=LABELS)
        transform.set_random_seed(seed)
        b = transform(image=small, bboxes=scaled, labels=LABELS)
        assert a["image"].shape == b["image"].shape == (SIZE, SIZE, 3)
        assert list(a["labels"]) == list(b["labels"])
        np.testing.assert_allclose(
            np.asarray(b["bboxes"]).reshape(-1, 4), np.asarray(a["bboxes"]).reshape(-1, 4), atol=1.0
        )
        # Normalised units: under 3 levels of 255 on average. Zooming in (scale jitter > 1) starts from the
        # input-size pixels, so edges come out a little softer than from the full-size image.
        assert np.abs(a["image"] - b["image"]).mean() < 0.05


def test_the_ram_cache_yields_what_decoding_each_step_yields(jpegs):
    transform = train_transform(SIZE, 0.25, 0.3, mosaic=0.5)
    decoded, cached = DetectionDataset(jpegs, transform, SIZE), DetectionDataset(jpegs, transform, SIZE, "ram")
    assert decoded.cache is None and len(cached.cache) == len(SHAPES)
    assert cache_bytes(cached.records, SIZE) == sum(image.nbytes for image, _ in cached.cache)
    assert not any(image.flags.writeable for image, _ in cached.cache)  # no transform can edit the cache
    for seed in range(3):
        random.seed(seed)
        first = [decoded[i] for i in range(len(decoded))]
        random.seed(seed)
        again = [cached[i] for i in range(len(cached))]
        for (a, ab, al), (b, bb, bl) in zip(first, again):
            assert a.equal(b) and ab.equal(bb) and al.equal(bl)


def test_cache_is_checked():
    assert TrainConfig.from_params({"cache": "ram"}).cache == "ram"
    with pytest.raises(ValueError, match="train.cache must be one of"):
        TrainConfig.from_params({"cache": "disk"})
