"""Each augmentation keeps boxes on the pixels they describe; the manifest accounts for every new image."""

import csv

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import ImageRecord, read_coco, write_coco
from rpsdet.failure_loop.augment import augment_selection
from rpsdet.failure_loop.ops import OPERATIONS, build_operation

OPS = {
    "brightness": {"copies": 2, "brightness_limit": [-0.3, 0.3], "contrast_limit": [-0.2, 0.2], "min_visibility": 0.3},
    "blur": {"copies": 2, "sigma_limit": [0.8, 1.5], "min_visibility": 0.3},
    "crop": {"copies": 3, "scale": [0.5, 0.9], "ratio": [1.2, 1.45], "min_visibility": 0.4},
}
RED = (220, 20, 20)


def scene() -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A grey image with two flat red rectangles: each box is exactly a red patch."""
    image = np.full((120, 160, 3), 128, np.uint8)
    boxes = [(20.0, 30.0, 60.0, 80.0), (100.0, 20.0, 140.0, 60.0)]
    for x1, y1, x2, y2 in boxes:
        image[int(y1) : int(y2), int(x1) : int(x2)] = RED
    return image, boxes


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("seed", range(5))
def test_boxes_stay_on_their_flat_colour(name, seed):
    image, boxes = scene()
    out = build_operation(name, OPS[name], image.shape[:2], seed=seed)(
        image=image, bboxes=np.asarray(boxes, np.float32), labels=np.asarray([0, 2])
    )
    assert out["image"].shape == image.shape
    assert len(out["bboxes"]) >= 1
    for box in out["bboxes"]:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        inner = out["image"][y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].astype(int)  # skip the edge blur spreads
        red_dominates = (inner[..., 0] > inner[..., 1] + 40) & (inner[..., 0] > inner[..., 2] + 40)
        assert red_dominates.mean() > 0.95
    assert all(float(v).is_integer() for v in out["labels"])


def test_manifest_accounts_for_every_new_image_and_the_original_set_is_kept(tmp_path):
    (tmp_path / "src" / "images").mkdir(parents=True)
    image, boxes = scene()
    records = []
    for i in range(3):
        Image.fromarray(image).save(tmp_path / "src" / "images" / f"{i}.png")
        records.append(ImageRecord(1000 + i, f"images/{i}.png", 160, 120, boxes, [0, 1]))
    write_coco(tmp_path / "src" / "train.json", records)
    before = {p.name: p.read_bytes() for p in (tmp_path / "src" / "images").iterdir()}

    counts = augment_selection(tmp_path / "src" / "train.json", {1000, 1002}, tmp_path / "out", OPS, seed=0)

    with open(tmp_path / "out" / "manifest.csv") as fh:
        manifest = list(csv.DictReader(fh))
    assert len(manifest) == 2 * (2 + 2 + 3)
    kept = [row for row in manifest if row["status"] == "kept"]
    assert counts["generated"] == len(kept) and counts["rejected"] == len(manifest) - len(kept)
    assert {row["parent_id"] for row in manifest} == {"1000", "1002"}
    assert {(tmp_path / "out" / row["file_name"]).exists() for row in kept} == {True}
    new_set = read_coco(tmp_path / "out" / "train.json")
    assert len(new_set) == 3 + len(kept)  # the previous version, plus every kept new image
    assert all((tmp_path / "out" / r.file_name).resolve().is_file() for r in new_set)
    assert {p.name: p.read_bytes() for p in (tmp_path / "src" / "images").iterdir()} == before
