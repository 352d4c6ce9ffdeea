"""cleanlab label quality: what is given to cleanlab (fused, calibrated predictions), what it scores badly handled
explicitly (crafted predictions), a ranking without ties, the measures, and the whole flow on a real detector."""

import csv
import json
import sys

import numpy as np
import pytest

from rpsdet.data.coco import ImageRecord, image_path, read_coco
from rpsdet.label_quality import evidence, queue, scoring
from rpsdet.label_quality.measure import precision_recall
from rpsdet.label_quality.scoring import Review

ROCK, PAPER, SCISSORS = 0, 1, 2


def pred(*rows: tuple) -> list[np.ndarray]:
    """Crafted predictions of one image: rows of (x1, y1, x2, y2, score, class)."""
    return [np.array([r[:5] for r in rows if r[5] == c], dtype=np.float64).reshape(-1, 5) for c in range(3)]


def image(i: int, boxes=(), labels=()) -> ImageRecord:
    return ImageRecord(i, f"images/{i}.jpg", 320, 240, list(boxes), list(labels))


def test_label_quality_imports_no_torch():
    import subprocess

    code = (
        "import sys, rpsdet.label_quality.pairs, rpsdet.label_quality.scoring, rpsdet.label_quality.queue, "
        "rpsdet.label_quality.predictions, rpsdet.validate.run; print('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_detector_outputs_become_per_class_arrays():
    from dataclasses import dataclass

    @dataclass
    class Det:
        box: tuple
        score: float
        label: int

    arrays = evidence.to_class_arrays([Det((1, 2, 30, 40), 0.9, 2), Det((5, 5, 9, 9), 0.2, 0)])
    assert [a.shape for a in arrays] == [(1, 5), (0, 5), (1, 5)] and arrays[2][0, 4] == pytest.approx(0.9)


def test_fusion_averages_the_models():
    one = pred((10, 10, 50, 50, 0.8, ROCK), (200, 100, 240, 160, 0.6, PAPER))
    two = pred((12, 10, 52, 50, 0.4, ROCK))
    fused = evidence.fuse([one, two])
    assert fused[ROCK][0, 4] == pytest.approx(0.6)  # (0.8 + 0.4) / 2
    assert fused[ROCK][0, 0] == pytest.approx((10 * 0.8 + 12 * 0.4) / 1.2)  # score-weighted box
    assert fused[PAPER][0, 4] == pytest.approx(0.3)  # one model of two saw it
    assert len(fused[SCISSORS]) == 0


def test_calibration_lifts_a_timid_models_correct_boxes_above_its_wrong_ones():
    rng = np.random.default_rng(0)
    records, preds = [], []
    for i in range(60):  # correct boxes score ~0.3, wrong ones ~0.05: a weak model, both below 0.5
        box = (20.0, 20.0, 120.0, 140.0)
        records.append(image(i, [box], [ROCK]))
        preds.append(
            pred(
                (*box, float(rng.uniform(0.25, 0.35)), ROCK), (200, 20, 260, 90, float(rng.uniform(0.02, 0.08)), PAPER)
            )
        )
    cal = evidence.fit_calibration(records, preds)
    assert cal.temperature < 1.0 and cal.shift > 0  # sharper, and shifted up: a temperature alone cannot do this
    calibrated = evidence.calibrate(preds, cal)
    assert calibrated[0][ROCK][0, 4] > 0.9 > 0.1 > calibrated[0][PAPER][0, 4]
    assert np.allclose(evidence.calibrate(preds, evidence.Calibration())[0][ROCK], preds[0][ROCK])


def clean_set(n: int = 12) -> tuple[list[ImageRecord], list[list[np.ndarray]]]:
    """Images whose labels the (crafted) model confirms, each a little differently, with a faint false detection
    in a corner (as effdet gives at a low score floor)."""
    records, preds = [], []
    for i in range(n):
        box = (20.0 + i, 30.0, 120.0 + i, 150.0)
        records.append(image(i, [box], [i % 3]))
        preds.append(
            pred(
                (box[0] + 1 + i % 4, box[1] + 1, box[2] - i % 3, box[3] + i % 5, 0.97 - i * 0.01, i % 3),
                (box[0], box[1], box[2], box[3], 0.03, (i + 1) % 3),
                (290, 200, 315, 235, 0.02, ROCK),
            )
        )
    return records, preds


def test_a_box_with_no_prediction_of_any_class_near_it_scores_low():
    records, preds = clean_set()
    spurious = (200.0, 20.0, 280.0, 100.0)  # labelled where the model sees nothing
    records[0].boxes.append(spurious)
    records[0].labels.append(SCISSORS)
    labels = scoring.cleanlab_labels(records)
    from cleanlab.object_detection import rank

    assert rank.compute_badloc_box_scores(labels=labels, predictions=preds)[0][1] == 1.0  # cleanlab: "clean"
    reviews = scoring.review(records, preds)
    worst = reviews[0]
    assert (worst.image_id, worst.kind, worst.box, worst.label, worst.issue) == (
        0,
        "unsupported",
        list(spurious),
        "scissors",
        True,
    )
    assert worst.score == 0.0
    assert not any(r.issue for r in reviews[1:])


def test_an_image_without_any_prediction_is_not_a_perfect_label():
    records, preds = clean_set()
    preds[3] = pred()  # the model found nothing at all, yet a hand is labelled
    reviews = scoring.review(records, preds)
    assert (reviews[0].image_id, reviews[0].kind, reviews[0].score, reviews[0].issue) == (3, "unsupported", 0.0, True)


def test_a_background_image_where_the_model_finds_a_hand_is_a_suspect_missing_label():
    records, preds = clean_set()
    records.append(image(99))  # labelled as background
    preds.append(pred((40, 40, 140, 160, 0.93, PAPER), (10, 10, 30, 30, 0.04, ROCK)))
    records.append(image(98))  # a true background: the model agrees
    preds.append(pred((10, 10, 30, 30, 0.04, ROCK)))
    reviews = {r.image_id: r for r in scoring.review(records, preds)}
    assert (reviews[99].kind, reviews[99].label, reviews[99].issue) == ("missing_label", "paper", True)
    assert reviews[99].score == pytest.approx(0.07)
    assert not reviews[98].issue and reviews[98].score == pytest.approx(0.96)


def test_the_ranking_has_no_ties_at_a_constant_score():
    records, preds = clean_set()
    reviews = scoring.review(records, preds)
    scores = [r.score for r in reviews]
    assert len(set(scores)) == len(scores) and max(scores) < 1.0
    assert scores == sorted(scores)  # no issue here: the order is the score's


def test_a_swapped_class_is_caught_by_cleanlab_above_its_threshold_and_explicitly_below():
    records, preds = clean_set()
    for i in (0, 5):  # labelled as the class the model gives 0.03 there; it sees the true one at 0.97 / 0.92
        records[i].labels[0] = (records[i].labels[0] + 1) % 3
    reviews = {r.image_id: r for r in scoring.review(records, preds)}
    assert (reviews[0].kind, reviews[0].issue, reviews[0].cleanlab_issue) == ("swapped", True, True)
    assert (reviews[5].kind, reviews[5].issue, reviews[5].cleanlab_issue) == ("swapped", True, False)
    assert reviews[5].score == pytest.approx(0.03)
    assert sum(r.issue for r in reviews.values()) == 2


def test_injected_noise_ids_are_the_canonical_ids_of_the_label_issue_entries(tmp_path):
    from rpsdet.data.coco import image_id_for
    from rpsdet.label_quality.measure import injected_noise

    (tmp_path / "m.json").write_text(
        json.dumps(
            [
                {"kind": "swapped_class", "image": "JPEGImages/a.jpg", "check": "label_issue"},
                {"kind": "truncated", "image": "JPEGImages/b.jpg", "check": "truncated_image"},
            ]
        )
    )
    assert injected_noise(tmp_path / "m.json", "test") == {image_id_for("test/JPEGImages/a.jpg")}


def test_precision_recall_and_precision_at_k():
    reviews = [Review(i, "", i / 10, i < 4, "", [], "", 1.0, False) for i in range(10)]
    assert precision_recall(reviews, {0, 1, 7}) == {
        "flagged": 4,
        "noisy": 3,
        "true_positives": 2,
        "precision": 0.5,
        "recall": 0.6667,
        "k": 3,
        "precision_at_k": 0.6667,
        "recall_at_k": 0.6667,
    }


@pytest.mark.slow
def test_the_flow_on_a_real_detector_ranks_injected_noise_first(tiny_splits, tmp_path):
    from rpsdet.label_quality import predictions
    from rpsdet.model.predict import Detector
    from rpsdet.train.loop import TrainConfig, train

    ckpt = tmp_path / "model.pt"
    train(
        TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=3, eval_every=1, threads=2),
        tiny_splits / "train.json",
        tiny_splits / "val.json",
        ckpt,
    )
    test_json = tiny_splits / "test.json"
    records = read_coco(test_json)
    # two "models" (the same checkpoint twice) fuse into the same evidence
    preds = predictions.ensemble([ckpt, ckpt], test_json, records, floor=0.01)
    single = predictions.predict(Detector.from_checkpoint(ckpt), test_json, records, 0.01)
    assert all(np.allclose(a[:, 4], b[:, 4]) for p, q in zip(preds, single) for a, b in zip(p, q))
    # Labels = the model's own best boxes, so that a barely trained model agrees with them; then damage three.
    clean = []
    for rec, p in zip(records, preds):
        flat = np.concatenate([np.c_[a, np.full(len(a), c)] for c, a in enumerate(p)])
        top = flat[np.argsort(-flat[:, 4])[:1]]
        clean.append(
            ImageRecord(
                rec.id, rec.file_name, rec.width, rec.height, [tuple(r[:4]) for r in top], [int(r[5]) for r in top]
            )
        )
    noisy = {clean[0].id, clean[1].id, clean[2].id}
    clean[0].labels[0] = (clean[0].labels[0] + 1) % 3  # swapped class
    x1, y1, x2, y2 = clean[1].boxes[0]
    clean[1].boxes[0] = (x1 + 0.6 * (x2 - x1), y1, x2 + 0.6 * (x2 - x1), y2)  # shifted box
    w, h = clean[2].width, clean[2].height
    clean[2].boxes.append((0.0, 0.0, w / 8, h / 8))  # a box in a corner where nothing is predicted
    clean[2].labels.append(ROCK)
    reviews = scoring.review(clean, evidence.calibrate(preds, evidence.fit_calibration(clean, preds)))
    assert len(reviews) == len(clean) and all(0.0 <= r.score <= 1.0 for r in reviews)
    assert len(noisy & {r.image_id for r in reviews[:5]}) >= 2
    measured = precision_recall(reviews, noisy)
    assert measured["noisy"] == 3

    out = tmp_path / "q"
    queue.write_page(out, "Label review", [], queue.write_singles(out, reviews, test_json, clean, top=5))
    rows = list(csv.DictReader(open(out / "review.csv")))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(clean) + 1))
    page = (out / "review.html").read_text()
    assert page.count("<img src='thumbs/") == 5 and "http" not in page
    pair_ids = {clean[5].id}
    for action, expected in (
        ("keep", len(clean)),
        ("drop", len(clean) - len({r.image_id for r in reviews if r.issue} | pair_ids)),
        ("mark", len(clean)),
    ):
        n = queue.write_reviewed(tmp_path / f"{action}.json", test_json, clean, reviews, pair_ids, action)
        assert n == len(json.loads((tmp_path / f"{action}.json").read_text())["images"]) == expected
    marked = json.loads((tmp_path / "mark.json").read_text())["images"]
    assert sum(i["label_issue"] for i in marked) == len({r.image_id for r in reviews if r.issue} | pair_ids)
    assert all(image_path(tmp_path / "mark.json", r).is_file() for r in read_coco(tmp_path / "mark.json"))


@pytest.mark.slow
def test_kfold_gives_every_train_image_a_prediction_from_a_model_that_never_saw_it(tiny_splits, tmp_path):
    from rpsdet.label_quality import predictions
    from rpsdet.train.loop import TrainConfig

    train_json = tiny_splits / "train.json"
    records = read_coco(train_json)
    cfg = TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=2, eval_every=1, threads=2, resume=False)
    found = predictions.kfold(train_json, records, 2, cfg, tmp_path / "folds", 0.0)
    assert len(found) == len(records) and all(sum(len(a) for a in p) > 0 for p in found)  # floor 0: every anchor
    seen = set()
    for k in range(2):
        fold = tmp_path / "folds" / f"fold{k}"
        assert (fold / "model.pt").is_file()
        trained_on = {r.id for r in read_coco(fold / "train.json")}
        held_out = {r.id for r in read_coco(fold / "val.json")}
        assert held_out and trained_on and not trained_on & held_out
        assert all(image_path(fold / "val.json", r).is_file() for r in read_coco(fold / "val.json"))
        seen |= held_out
    assert seen == {r.id for r in records}  # every image held out exactly once
    assert {r.image_id for r in scoring.review(records, found)} == seen
