"""Near-duplicate label disagreement (no model): every disagreement injected into flagged pairs is found, pairs
that agree are not reported, an unfindable partner is listed, and the review page shows each pair side by side."""

import csv

import numpy as np
from PIL import Image

from rpsdet.data.coco import ImageRecord, image_id_for, read_coco, write_coco
from rpsdet.data.synth import render_scene
from rpsdet.label_quality import queue
from rpsdet.label_quality.pairs import compare_boxes, find_pairs, partner_refs

ROCK, PAPER, SCISSORS = 0, 1, 2


def rec(side: str, rel: str, boxes: list, labels: list, flags: dict | None = None, size=(320, 240)) -> ImageRecord:
    return ImageRecord(image_id_for(f"{side}/{rel}"), f"images/{rel.split('/')[-1]}", *size, boxes, labels, flags or {})


def test_partners_resolve_to_the_canonical_ids_validation_assigns():
    r = rec(
        "test",
        "JPEGImages/b.jpg",
        [],
        [],
        {
            "leakage": {"reference": "JPEGImages/a.jpg", "distance": 2, "kind": "near"},
            "near_duplicate": {"of": "JPEGImages/c.jpg", "distance": 3},
        },
    )
    leak, near = partner_refs(r, "test")
    assert (leak.relation, leak.side, leak.image_id, leak.distance) == (
        "leakage",
        "train",
        image_id_for("train/JPEGImages/a.jpg"),
        2,
    )
    assert (near.relation, near.side, near.image_id, near.distance) == (
        "near_duplicate",
        "test",
        image_id_for("test/JPEGImages/c.jpg"),
        3,
    )


def test_boxes_are_matched_by_iou_then_class_changes_and_missing_boxes_reported():
    a = rec("test", "a.jpg", [(10, 10, 60, 80), (100, 20, 150, 90), (200, 100, 260, 180)], [ROCK, PAPER, SCISSORS])
    b = rec("train", "b.jpg", [(12, 11, 61, 82), (205, 98, 262, 178), (20, 150, 70, 220)], [PAPER, SCISSORS, ROCK])
    found = compare_boxes(a, b, min_iou=0.3)
    assert sorted(d.kind for d in found) == ["class", "missing_in_image", "missing_in_partner"]
    swap = next(d for d in found if d.kind == "class")
    assert (swap.label, swap.partner_label) == ("rock", "paper") and swap.iou > 0.8
    assert next(d for d in found if d.kind == "missing_in_partner").box == [100, 20, 150, 90]
    assert next(d for d in found if d.kind == "missing_in_image").partner_box == [20, 150, 70, 220]


def test_a_hand_that_moved_between_video_frames_is_the_same_object():
    """Consecutive frames pass as near-duplicates while a small hand shifts by most of its width (IoU < 0.3):
    same class there is no disagreement; another class, or the same class far away, is still reported."""
    a = rec("train", "f45.jpg", [(394, 237, 458, 325)], [ROCK], size=(640, 640))
    moved = rec("train", "f53.jpg", [(432, 256, 498, 344)], [ROCK], size=(640, 640))
    assert compare_boxes(a, moved, min_iou=0.3) == []
    relabelled = rec("train", "f53.jpg", [(432, 256, 498, 344)], [PAPER], size=(640, 640))
    found = compare_boxes(a, relabelled, min_iou=0.3)
    assert sorted((d.kind, d.label or d.partner_label) for d in found) == [
        ("missing_in_image", "paper"),
        ("missing_in_partner", "rock"),
    ]
    far = rec("train", "f60.jpg", [(40, 40, 104, 128)], [ROCK], size=(640, 640))
    assert sorted(d.kind for d in compare_boxes(a, far, min_iou=0.3)) == ["missing_in_image", "missing_in_partner"]


def test_a_resized_copy_is_compared_in_relative_coordinates():
    a = rec("test", "a.jpg", [(10, 10, 60, 80)], [ROCK])
    b = rec("train", "b.jpg", [(20, 20, 120, 160)], [ROCK], size=(640, 480))
    assert compare_boxes(a, b, min_iou=0.5) == []


def test_every_injected_disagreement_is_found_and_agreeing_pairs_are_not_reported():
    box1, box2 = (30, 40, 110, 150), (180, 60, 260, 170)
    train = [
        rec("train", "JPEGImages/t0.jpg", [box1], [ROCK]),
        rec("train", "JPEGImages/t1.jpg", [box1, box2], [PAPER, SCISSORS]),
        rec("train", "JPEGImages/t2.jpg", [box1], [SCISSORS]),
        # a later frame of t2 inside the train source, its label swapped
        rec(
            "train", "JPEGImages/t3.jpg", [box1], [ROCK], {"near_duplicate": {"of": "JPEGImages/t2.jpg", "distance": 1}}
        ),
    ]
    leak = lambda ref, d: {"leakage": {"reference": ref, "distance": d, "kind": "near" if d else "exact"}}  # noqa
    test = [
        rec("test", "JPEGImages/x0.jpg", [box1], [PAPER], leak("JPEGImages/t0.jpg", 3)),  # class disagrees
        rec("test", "JPEGImages/x1.jpg", [box1], [PAPER], leak("JPEGImages/t1.jpg", 0)),  # a box is missing
        rec("test", "JPEGImages/x2.jpg", [box1], [SCISSORS], leak("JPEGImages/t2.jpg", 2)),  # agrees
        rec("test", "JPEGImages/x3.jpg", [box1], [ROCK], leak("JPEGImages/gone.jpg", 1)),
    ]  # partner not kept
    pairs, unresolved = find_pairs({"train": train, "test": test}, min_iou=0.3)
    found = {(p.record.file_name, p.partner.file_name, d.kind) for p in pairs for d in p.disagreements}
    assert found == {
        ("images/x0.jpg", "images/t0.jpg", "class"),
        ("images/x1.jpg", "images/t1.jpg", "missing_in_image"),
        ("images/t3.jpg", "images/t2.jpg", "class"),
    }
    assert [p.record.file_name for p in pairs if not p.disagreements] == ["images/x2.jpg"]
    assert unresolved == [
        {
            "side": "test",
            "image_id": test[3].id,
            "file_name": "images/x3.jpg",
            "relation": "leakage",
            "partner": "train/JPEGImages/gone.jpg",
        }
    ]
    assert [p.distance for p in pairs] == sorted(p.distance for p in pairs)  # closest copies first


def test_real_style_near_identical_frames_with_disagreeing_labels_are_drawn_side_by_side(tmp_path):
    """Two renders of one scene (the second re-encoded a little darker, as a next video frame would be), labelled
    rock in train and paper in test; the page shows both pictures with the disagreeing boxes."""
    im, hands = render_scene(np.random.default_rng(3), 320, 240, 1)
    sides = {}
    for side, name, label, pixels in (
        ("train", "f1.jpg", hands[0].label, im),
        ("test", "f2.jpg", (hands[0].label + 1) % 3, Image.fromarray((np.asarray(im) * 0.95).astype(np.uint8))),
    ):
        (tmp_path / side / "images").mkdir(parents=True)
        pixels.save(tmp_path / side / "images" / name, quality=80)
        flags = {"leakage": {"reference": "JPEGImages/f1.jpg", "distance": 1, "kind": "near"}} if side == "test" else {}
        write_coco(
            tmp_path / side / "annotations.json",
            [rec(side, f"JPEGImages/{name}", [tuple(float(v) for v in hands[0].box)], [label], flags)],
        )
        sides[side] = read_coco(tmp_path / side / "annotations.json")
    pairs, unresolved = find_pairs(sides, min_iou=0.3)
    assert not unresolved and len(pairs) == 1 and [d.kind for d in pairs[0].disagreements] == ["class"]
    rows = queue.write_pairs(tmp_path / "out", pairs, {s: tmp_path / s / "annotations.json" for s in sides})
    queue.write_page(tmp_path / "out", "Label review", rows, [])
    picture = Image.open(tmp_path / "out" / "thumbs" / "pair_1.jpg")
    assert picture.width > 2 * 300  # two images side by side
    page = (tmp_path / "out" / "review.html").read_text()
    assert "pair_1.jpg" in page and "leakage, 1 bits" in page and "http" not in page
    written = list(csv.DictReader(open(tmp_path / "out" / "pairs.csv")))
    assert [(r["kind"], r["side"], r["partner_side"]) for r in written] == [("class", "test", "train")]
