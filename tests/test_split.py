import pytest

from rpsdet.data.coco import ImageRecord, read_coco, write_coco
from rpsdet.data.split import split_ids, write_splits


def test_split_is_deterministic_disjoint_and_sized():
    ids = list(range(1000, 1100))
    train, val = split_ids(ids, 0.6, seed=0)
    assert (train, val) == split_ids(list(reversed(ids)), 0.6, seed=0)  # order does not matter
    assert not train & val and train | val == set(ids) and len(train) == 60
    assert split_ids(ids, 0.6, seed=1) != (train, val)


def test_adding_images_does_not_move_existing_ones_much():
    ids = list(range(500))
    train, _ = split_ids(ids, 0.5, seed=0)
    train_more, _ = split_ids(ids + list(range(500, 520)), 0.5, seed=0)
    assert len(train - train_more) < 15


def test_bad_ratio_is_refused():
    with pytest.raises(ValueError, match="train_ratio"):
        split_ids([1, 2], 1.0, seed=0)


def test_split_files_reference_the_validated_images(tmp_path):
    for source, n in (("tr", 10), ("te", 4)):
        (tmp_path / source / "images").mkdir(parents=True)
        recs = []
        for i in range(n):
            (tmp_path / source / "images" / f"{i}.jpg").write_bytes(b"x")
            recs.append(ImageRecord(hash((source, i)) & 0xFFFFFF, f"images/{i}.jpg", 8, 8, [(0, 0, 4, 4)], [1]))
        write_coco(tmp_path / source / "annotations.json", recs)
    counts = write_splits(tmp_path / "tr", tmp_path / "te", tmp_path / "splits" / "v1", 0.6, seed=0)
    assert counts == {"train": 6, "val": 4, "test": 4}
    for name in ("train", "val", "test"):
        for rec in read_coco(tmp_path / "splits" / "v1" / f"{name}.json"):
            assert (tmp_path / "splits" / "v1" / rec.file_name).resolve().is_file()
    assert not list((tmp_path / "splits").rglob("*.jpg"))


def test_validation_flags_survive_the_split(tmp_path):
    """A test image flagged as leakage by validation is still flagged in the split the evaluation reads."""
    leak = {"leakage": {"reference": "images/a.jpg", "distance": 2, "kind": "near"}}
    for source in ("tr", "te"):
        (tmp_path / source / "images").mkdir(parents=True)
        (tmp_path / source / "images" / "0.jpg").write_bytes(b"x")
        write_coco(
            tmp_path / source / "annotations.json",
            [ImageRecord(7 if source == "te" else 8, "images/0.jpg", 8, 8, flags=leak if source == "te" else {})],
        )
    write_splits(tmp_path / "tr", tmp_path / "te", tmp_path / "splits", 0.5, seed=0)
    (test,) = read_coco(tmp_path / "splits" / "test.json")
    assert test.flags == leak and not test.boxes
    assert all(not r.flags for name in ("train", "val") for r in read_coco(tmp_path / "splits" / f"{name}.json"))
