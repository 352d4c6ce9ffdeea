"""Mosaic augmentation: boxes follow their objects' pixels, and mosaic=0 leaves today's transform untouched.

The "objects" are solid rectangles, each in its own colour, on tiny grey images: an output box is right when the
pixels inside it are its object's colour and it matches where that colour landed.
"""

import random

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import ImageRecord, write_coco
from rpsdet.model.preprocess import MEAN, STD, A
from rpsdet.train.dataset import DetectionDataset
from rpsdet.train.transforms import train_transform

SIZE = 64  # source images and network input alike: a mosaic tile is then exactly half scale
GREY = (128, 128, 128)
# (image, colour, label, box): every object has its own colour, so a colour names one object.
OBJECTS = [
    (0, (255, 0, 0), 0, (4, 6, 28, 30)),
    (0, (0, 255, 0), 1, (36, 30, 60, 58)),
    (1, (0, 0, 255), 2, (10, 10, 50, 40)),
    (2, (255, 255, 0), 0, (20, 4, 44, 60)),
    (3, (255, 0, 255), 1, (2, 40, 30, 62)),
    (3, (0, 255, 255), 2, (34, 2, 62, 26)),
    (4, (255, 128, 0), 1, (16, 16, 48, 48)),
]


@pytest.fixture(scope="module")
def coloured_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp("coloured")
    records = []
    for i in range(1 + max(o[0] for o in OBJECTS)):
        pixels = np.full((SIZE, SIZE, 3), GREY, np.uint8)
        rec = ImageRecord(i + 1, f"{i}.png", SIZE, SIZE)
        for _, colour, label, (x1, y1, x2, y2) in (o for o in OBJECTS if o[0] == i):
            pixels[y1:y2, x1:x2] = colour
            rec.boxes.append((x1, y1, x2, y2))
            rec.labels.append(label)
        Image.fromarray(pixels).save(root / rec.file_name)
        records.append(rec)
    write_coco(root / "train.json", records)
    return root / "train.json"


def _pixels(image) -> np.ndarray:
    """Network input (CHW, normalised) back to HWC uint8 colours."""
    hwc = image.permute(1, 2, 0).numpy() * np.asarray(STD) + np.asarray(MEAN)
    return np.clip(np.round(hwc * 255), 0, 255).astype(np.uint8)


def _object_map(pixels: np.ndarray) -> np.ndarray:
    """Per pixel: the index into OBJECTS of its colour, or -1 (background, padding, blended edges)."""
    palette = np.asarray([o[1] for o in OBJECTS], np.int32)
    dist = np.abs(pixels[:, :, None, :].astype(np.int32) - palette[None, None]).max(axis=-1)
    return np.where(dist.min(axis=-1) <= 8, dist.argmin(axis=-1), -1)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_boxes_lie_in_the_image_and_cover_their_objects(coloured_coco, seed):
    dataset = DetectionDataset(coloured_coco, train_transform(SIZE, 0.0, 0.0, mosaic=1.0), SIZE)
    random.seed(seed)
    index = seed % len(dataset)
    image, boxes, labels = dataset[index]
    assert image.shape == (3, SIZE, SIZE)
    owner = _object_map(_pixels(image))
    matched = set()
    for box, label in zip(boxes.tolist(), labels.tolist()):
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE  # (a) inside the image
        inner = owner[int(np.ceil(y1)) + 1 : int(y2) - 1, int(np.ceil(x1)) + 1 : int(x2) - 1]
        ids, counts = np.unique(inner[inner >= 0], return_counts=True)
        obj = int(ids[counts.argmax()])
        assert counts.max() >= 0.9 * inner.size  # (b) the box holds one object's pixels ...
        assert OBJECTS[obj][2] == label  # ... of its own class
        ys, xs = np.nonzero(owner == obj)
        assert _iou(box, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)) >= 0.8  # ... and where they landed
        matched.add(obj)
    # (c) a 2x2 mosaic shows four whole tiles: this image's objects and every other visible object have boxes.
    own = {i for i, o in enumerate(OBJECTS) if o[0] == index}
    visible = {int(i) for i in np.unique(owner[owner >= 0])}
    assert own <= visible and visible == matched
    assert len(boxes) >= len(own) and len({OBJECTS[i][0] for i in visible}) == 4


def test_mosaic_off_is_todays_transform(coloured_coco):
    today, off = train_transform(SIZE, 0.25, 0.3), train_transform(SIZE, 0.25, 0.3, mosaic=0.0)
    assert repr(today) == repr(off) and not any(isinstance(t, A.Mosaic) for t in off.transforms)
    assert not DetectionDataset(coloured_coco, off, SIZE).mosaic  # no partner images are loaded
    sample = {
        "image": np.asarray(Image.open(coloured_coco.parent / "0.png")),
        "bboxes": np.asarray([o[3] for o in OBJECTS[:2]], np.float32),
        "labels": np.asarray([0, 1]),
    }
    for seed in range(5):
        today.set_random_seed(seed)
        off.set_random_seed(seed)
        a, b = today(**sample), off(**sample)
        assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["bboxes"], b["bboxes"])


@pytest.mark.parametrize("mosaic", [0.0, 0.5])
def test_the_dataset_is_deterministic_under_the_loops_seed(coloured_coco, mosaic):
    dataset = DetectionDataset(coloured_coco, train_transform(SIZE, 0.25, 0.3, mosaic=mosaic), SIZE)

    def epoch(seed):
        random.seed(seed)  # what the train loop's seed_everything does
        return [dataset[i] for i in range(len(dataset))]

    first, again, other = epoch(0), epoch(0), epoch(1)
    for (a, ab, al), (b, bb, bl) in zip(first, again):
        assert a.equal(b) and ab.equal(bb) and al.equal(bl)
    assert any(not a[0].equal(c[0]) for a, c in zip(first, other))


def test_mosaic_is_a_probability():
    from rpsdet.train.loop import TrainConfig

    with pytest.raises(ValueError, match="mosaic"):
        TrainConfig.from_params({"mosaic": 1.5})
