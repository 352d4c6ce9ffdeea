"""cleanlab label quality with a real (tiny) trained detector: swapped, shifted and missing boxes rank as
suspicious, the review queue and page are written, and the action param decides the reviewed dataset."""
import csv
import json

import pytest

from rpsdet.data.coco import ImageRecord, image_path, read_coco
from rpsdet.validate import label_quality as lq
from rpsdet.validate.label_quality import Review


def test_cleanlab_inputs_are_per_class_arrays_in_xyxy():
    from rpsdet.model.predict import Detection

    rec = ImageRecord(1, "a.jpg", 100, 80, [(1, 2, 30, 40)], [2])
    labels, preds = lq.cleanlab_inputs([rec], [[Detection((1, 2, 30, 40), 0.9, 2), Detection((5, 5, 9, 9), 0.2, 0)]])
    assert labels[0]["bboxes"].shape == (1, 4) and labels[0]["labels"].tolist() == [2]
    assert [p.shape for p in preds[0]] == [(1, 5), (0, 5), (1, 5)] and preds[0][2][0, 4] == pytest.approx(0.9)


def test_precision_recall_against_ground_truth():
    reviews = [Review(i, "", 0.1, i < 4, "", [], "", 0.0) for i in range(10)]
    assert lq.precision_recall(reviews, {0, 1, 7}) == {"flagged": 4, "noisy": 3, "true_positives": 2,
                                                        "precision": 0.5, "recall": 0.6667}


@pytest.mark.slow
def test_review_on_a_real_model_ranks_injected_noise_first(tiny_splits, tmp_path):
    from rpsdet.model.predict import Detector
    from rpsdet.train.loop import TrainConfig, train

    ckpt = tmp_path / "model.pt"
    train(TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=3, eval_every=1, threads=2),
          tiny_splits / "train.json", tiny_splits / "val.json", ckpt)
    # Ground truth = the model's own confident predictions, so that a real (if tiny) model agrees with the labels;
    # then damage three images the way the defects module does.
    test_json = tiny_splits / "test.json"
    records = read_coco(test_json)
    detector = Detector.from_checkpoint(ckpt)
    dets = lq.predict(detector, test_json, records, 0.0)
    clean = []
    for rec, d in zip(records, dets):
        top = sorted(d, key=lambda x: -x.score)[:2]
        clean.append(ImageRecord(rec.id, rec.file_name, rec.width, rec.height, [x.box for x in top],
                                 [x.label for x in top]))
    noisy = {clean[0].id, clean[1].id, clean[2].id}
    clean[0].labels[0] = (clean[0].labels[0] + 1) % 3                       # swapped class
    x1, y1, x2, y2 = clean[1].boxes[0]
    clean[1].boxes[0] = (x1 + 0.6 * (x2 - x1), y1, x2 + 0.6 * (x2 - x1), y2)  # shifted box
    clean[2].boxes, clean[2].labels = clean[2].boxes[1:], clean[2].labels[1:]  # missing box
    reviews = lq.review(clean, dets)
    assert len(reviews) == len(clean) and all(0.0 <= r.score <= 1.0 for r in reviews)
    worst = {r.image_id for r in reviews[:6]}
    assert len(noisy & worst) >= 2
    metrics = lq.precision_recall(reviews, noisy)
    assert metrics["noisy"] == 3

    lq.write_queue(tmp_path / "q", reviews, test_json, clean, top=5)
    rows = list(csv.DictReader(open(tmp_path / "q" / "review.csv")))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(clean) + 1))
    page = (tmp_path / "q" / "review.html").read_text()
    assert page.count("<img src='thumbs/") == 5 and "http" not in page
    for action, expected in (("keep", len(clean)), ("drop", len(clean) - metrics["flagged"]), ("mark", len(clean))):
        n = lq.write_reviewed(tmp_path / f"{action}.json", test_json, clean, reviews, action)
        data = json.loads((tmp_path / f"{action}.json").read_text())
        assert n == len(data["images"]) == expected
    marked = json.loads((tmp_path / "mark.json").read_text())["images"]
    assert sum(i["label_issue"] for i in marked) == metrics["flagged"]
    assert all(image_path(tmp_path / "mark.json", r).is_file() for r in read_coco(tmp_path / "mark.json"))


@pytest.mark.slow
def test_kfold_gives_every_train_image_a_prediction_from_a_model_that_never_saw_it(tiny_splits, tmp_path):
    from rpsdet.train.loop import TrainConfig

    train_json = tiny_splits / "train.json"
    records = read_coco(train_json)
    cfg = TrainConfig(epochs=1, image_size=128, batch_size=4, warmup_steps=2, eval_every=1, threads=2, resume=False)
    detections = lq.kfold_detections(train_json, records, 2, cfg, tmp_path / "folds", 0.0)
    assert len(detections) == len(records) and all(len(d) > 0 for d in detections)  # threshold 0: every anchor
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
    reviews = lq.review(records, detections)
    assert {r.image_id for r in reviews} == seen
