"""Evaluating both ways: the full test set and the leak-free one (test images that copy a train image left out).

Records carry the validation contract `flags["leakage"]`; every number is pycocotools', cross-checked against
COCOeval's own image-id restriction.
"""

import contextlib
import copy
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rpsdet.data.coco import ImageRecord, read_coco, to_coco_dict, write_coco
from rpsdet.evaluate.coco_metrics import coco_metrics
from rpsdet.evaluate.gallery import write_gallery
from rpsdet.evaluate.leakage import FULL, LEAK_FREE, resolve_view, view_metrics, view_rows, view_slices
from rpsdet.evaluate.matching import match_image
from rpsdet.evaluate.report import leak_free_metrics, slice_metrics, with_leak_free_slices
from rpsdet.failure_loop.compare import compare_rounds
from rpsdet.failure_loop.mine import rank_slices

LEAK = {"reference": "images/train_0003.jpg", "distance": 3, "kind": "near"}


def scene(leaked_ids: set[int]) -> tuple[list[ImageRecord], list[dict], dict[int, dict]]:
    """8 images of 100x100. Images 1-4: one hand, found exactly. Images 5-8: two hands, one missed and one
    misplaced. The leaked ones are chosen by the caller, so leaving them out moves the numbers."""
    records, results, attributes = [], [], {}
    for i in range(1, 9):
        boxes = [(10.0, 10.0, 40.0, 40.0)] if i <= 4 else [(10.0, 10.0, 40.0, 40.0), (55.0, 55.0, 95.0, 90.0)]
        flags = {"leakage": dict(LEAK)} if i in leaked_ids else {}
        records.append(ImageRecord(i, f"images/{i}.png", 100, 100, boxes, [i % 3] * len(boxes), flags))
        if i <= 4:
            results.append({"image_id": i, "category_id": i % 3 + 1, "bbox": [10, 10, 30, 30], "score": 0.9})
        else:
            results.append({"image_id": i, "category_id": i % 3 + 1, "bbox": [25, 25, 30, 30], "score": 0.8})
        attributes[i] = {"objects": len(boxes), "brightness": "normal", "blur": "sharp"}
    return records, results, attributes


def counts(records: list[ImageRecord], results: list[dict]) -> dict[int, dict[str, int]]:
    out = {}
    for rec in records:
        dets = [d for d in results if d["image_id"] == rec.id]
        boxes = np.asarray(
            [[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3]] for d in dets]
        )
        err = match_image(
            np.asarray(rec.boxes),
            np.asarray(rec.labels),
            boxes,
            np.asarray([d["category_id"] - 1 for d in dets]),
            np.asarray([d["score"] for d in dets]),
        )
        out[rec.id] = {k: err.count(k) for k in ("tp", "fp", "fn", "wrong_class")}
    return out


def cocoeval_on(ground_truth: dict, results: list[dict], img_ids: list[int]) -> float:
    """mAP50 by pycocotools' own image restriction (params.imgIds), independent of our subsetting."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(results)), "bbox")
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return round(float(ev.stats[1]), 4)


def test_flags_survive_the_canonical_coco_file(tmp_path):
    records, _, _ = scene({5, 6})
    write_coco(tmp_path / "test.json", records)
    back = {r.id: r for r in read_coco(tmp_path / "test.json")}
    assert back[5].flags["leakage"] == LEAK and not back[1].flags


def test_with_nothing_leaked_the_leak_free_figures_equal_the_full_ones():
    records, results, attributes = scene(set())
    full = coco_metrics(to_coco_dict(records), results)
    leak_free, leak_free_slices = leak_free_metrics(records, results, counts(records, results), attributes)
    assert leak_free["images"] == 8 and full["map50"] is not None
    for key in ("map", "map50", "map75", "ar100", "per_class", "by_size"):
        assert leak_free[key] == full[key], key
    full_slices = slice_metrics(records, results, attributes, full["by_size"])
    assert leak_free_slices == full_slices
    merged = with_leak_free_slices(full_slices, leak_free_slices)
    assert all(m[LEAK_FREE] == {k: v for k, v in m.items() if k != LEAK_FREE} for m in merged.values())


def test_leak_free_figures_are_pycocotools_on_the_images_that_copy_nothing():
    # The leaked images are the easy one-hand ones the model "remembers": without them the score drops.
    records, results, attributes = scene({1, 2, 3})
    ground_truth = to_coco_dict(records)
    per_image = counts(records, results)
    leak_free, leak_free_slices = leak_free_metrics(records, results, per_image, attributes)
    full = coco_metrics(ground_truth, results)
    assert leak_free["images"] == 5 and leak_free["boxes"] == 1 + 4 * 2
    assert leak_free["map50"] == cocoeval_on(ground_truth, results, [4, 5, 6, 7, 8]) < full["map50"]
    assert leak_free["tp"] == sum(per_image[i]["tp"] for i in (4, 5, 6, 7, 8))
    assert 0.0 <= leak_free["precision"] <= 1.0 and 0.0 <= leak_free["recall"] <= 1.0

    merged = with_leak_free_slices(slice_metrics(records, results, attributes, full["by_size"]), leak_free_slices)
    assert merged["objects==1"]["images"] == 4 and merged["objects==1"][LEAK_FREE]["images"] == 1
    two = merged["objects==2"]  # nothing leaked there: the same images, the same figures
    assert two[LEAK_FREE] == {k: v for k, v in two.items() if k != LEAK_FREE}


def test_a_slice_that_leaked_whole_keeps_its_full_figures_and_an_empty_leak_free_entry():
    records, results, attributes = scene({1, 2, 3, 4})
    leak_free, leak_free_slices = leak_free_metrics(records, results, counts(records, results), attributes)
    full = coco_metrics(to_coco_dict(records), results)
    merged = with_leak_free_slices(slice_metrics(records, results, attributes, full["by_size"]), leak_free_slices)
    assert merged["objects==1"]["images"] == 4
    assert merged["objects==1"][LEAK_FREE] == {"images": 0, "boxes": 0, "map50": None, "map": None}
    assert "objects==1" not in view_slices(merged, resolve_view("leak_free", {"images": 8, "leaked_images": 4}))


def test_the_view_is_chosen_by_param_and_says_why():
    clean = {"images": 200, "leaked_images": 0}
    leaky = {"images": 200, "leaked_images": 30}
    assert resolve_view("auto", clean).name == FULL
    assert "none copies a training image" in resolve_view("auto", clean).why
    auto = resolve_view("auto", leaky)
    assert auto.name == LEAK_FREE and "170 test images" in auto.why and "30 leaked" in auto.why
    assert resolve_view("full", leaky).name == FULL and "30 of them copies" in resolve_view("full", leaky).why
    assert resolve_view("leak_free", clean).name == LEAK_FREE
    with pytest.raises(ValueError, match="no leak-free test set"):
        resolve_view("auto", {"images": 5, "leaked_images": 5})
    with pytest.raises(ValueError, match="failure_slice.leakage_view"):
        resolve_view("clean", clean)


def test_mining_and_compare_read_the_chosen_view():
    eval_round1 = {
        "images": 10,
        "leaked_images": 4,
        "map50": 0.8,
        "map": 0.5,
        LEAK_FREE: {"images": 6, "map50": 0.6, "map": 0.4},
    }
    eval_round2 = {
        "images": 10,
        "leaked_images": 4,
        "map50": 0.85,
        "map": 0.55,
        LEAK_FREE: {"images": 6, "map50": 0.7, "map": 0.45},
    }
    slices = {
        "objects>=2": {"images": 5, "map50": 0.7, "map": 0.4, LEAK_FREE: {"images": 4, "map50": 0.3, "map": 0.2}},
        "objects==1": {"images": 5, "map50": 0.9, "map": 0.6, LEAK_FREE: {"images": 2, "map50": 0.9, "map": 0.6}},
    }
    slices2 = {
        name: {**m, "map50": m["map50"] + 0.1, LEAK_FREE: {**m[LEAK_FREE], "map50": m[LEAK_FREE]["map50"] + 0.2}}
        for name, m in slices.items()
    }
    per_image = pd.DataFrame(
        [{"objects": 2, "errors": 3, "leaked": False}] * 4
        + [{"objects": 2, "errors": 5, "leaked": True}]
        + [{"objects": 1, "errors": 0, "leaked": False}] * 2
        + [{"objects": 1, "errors": 0, "leaked": True}] * 3
    )

    view = resolve_view("auto", eval_round1)
    assert len(view_rows(per_image, view)) == 6
    ranked = rank_slices(
        view_slices(slices, view), view_metrics(eval_round1, view)["map50"], view_rows(per_image, view)
    )
    top = ranked[0]
    assert top.rule == "objects>=2" and top.images == 4 and round(top.gap, 2) == 0.3 and top.error_share == 1.0

    comparison = compare_rounds("objects>=2", {"round1": (eval_round1, slices), "round2": (eval_round2, slices2)}, view)
    assert comparison["test_view"]["name"] == LEAK_FREE
    round1 = comparison["rounds"]["round1"]
    assert round1["overall_map50"] == 0.6 and round1["slice_images"] == 4
    assert comparison["delta"]["round2"]["slice_map50_points"] == 20.0
    full = compare_rounds(
        "objects>=2",
        {"round1": (eval_round1, slices), "round2": (eval_round2, slices2)},
        resolve_view("full", eval_round1),
    )
    assert full["rounds"]["round1"]["overall_map50"] == 0.8 and full["delta"]["round2"]["slice_map50_points"] == 10.0


def test_the_gallery_marks_leaked_images_and_filters_them(tmp_path):
    records, results, _ = scene({5, 6})
    (tmp_path / "images").mkdir()
    for rec in records:
        Image.new("RGB", (100, 100), (120, 120, 120)).save(tmp_path / rec.file_name)
    coco = tmp_path / "test.json"
    write_coco(coco, records)
    errors = {}
    for rec in records:
        dets = [d for d in results if d["image_id"] == rec.id]
        errors[rec.id] = match_image(
            np.asarray(rec.boxes),
            np.asarray(rec.labels),
            np.asarray(
                [[d["bbox"][0], d["bbox"][1], d["bbox"][0] + d["bbox"][2], d["bbox"][1] + d["bbox"][3]] for d in dets]
            ),
            np.asarray([d["category_id"] - 1 for d in dets]),
            np.asarray([d["score"] for d in dets]),
        )
    attributes = {r.id: {"objects": len(r.boxes), "brightness": "normal", "blur": "sharp"} for r in records}
    page = write_gallery(tmp_path / "gallery", coco, records, errors, attributes, ["rock", "paper", "scissors"])
    text = page.read_text()
    assert text.count('data-leaked="1"') == 2 and text.count('data-leaked="0"') == 6
    assert 'id="leakage"' in text and "leak-free only" in text and "2 leaked" in text
    assert "near-copy (3 of 64 hash bits differ) of train image images/train_0003.jpg" in text
