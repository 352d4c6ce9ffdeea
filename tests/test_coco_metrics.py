from rpsdet.data.coco import ImageRecord, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics

GT = to_coco_dict(
    [
        ImageRecord(1, "a.jpg", 100, 100, [(10, 10, 50, 50)], [0]),
        ImageRecord(2, "b.jpg", 100, 100, [(20, 20, 70, 90)], [1]),
    ]
)


def det(image_id, box, label, score=0.9):
    x1, y1, x2, y2 = box
    return {"image_id": image_id, "category_id": label + 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": score}


def test_perfect_predictions_score_one():
    m = coco_metrics(GT, [det(1, (10, 10, 50, 50), 0), det(2, (20, 20, 70, 90), 1)])
    assert m["map"] == m["map50"] == m["map75"] == m["ar100"] == 1.0
    assert m["per_class"]["rock"] == {"ap": 1.0, "ap50": 1.0}
    assert m["per_class"]["scissors"] == {"ap": None, "ap50": None}  # no ground truth: undefined, not zero


def test_no_predictions_score_zero():
    assert coco_metrics(GT, [])["map50"] == 0.0


def test_wrong_class_counts_as_a_miss():
    m = coco_metrics(GT, [det(1, (10, 10, 50, 50), 0), det(2, (20, 20, 70, 90), 2)])
    assert m["per_class"]["rock"]["ap50"] == 1.0
    assert m["per_class"]["paper"]["ap50"] == 0.0
    assert m["map50"] == 0.5  # mean over the two classes with ground truth


def test_one_false_positive_ranked_above_the_true_box_halves_precision_at_full_recall():
    # rock: GT on image 1 only. Detections: an FP on image 2 (score 0.95) then the TP (0.9).
    # Precision at recall 1.0 is 1/2, and COCO's interpolated PR curve is 0.5 at every recall point -> AP 0.5.
    m = coco_metrics(
        GT, [det(2, (0, 0, 10, 10), 0, 0.95), det(1, (10, 10, 50, 50), 0, 0.9), det(2, (20, 20, 70, 90), 1)]
    )
    assert m["per_class"]["rock"]["ap50"] == 0.5
    assert m["per_class"]["paper"]["ap50"] == 1.0
    assert m["map50"] == 0.75


def test_one_missed_box_caps_recall():
    # paper is never detected: AP 0 for paper, AR@100 is the mean of rock (1.0) and paper (0.0).
    m = coco_metrics(GT, [det(1, (10, 10, 50, 50), 0)])
    assert m["per_class"]["paper"] == {"ap": 0.0, "ap50": 0.0}
    assert m["map50"] == 0.5 and m["ar100"] == 0.5


def test_a_loose_box_passes_at_iou_half_but_not_at_075():
    # Prediction (10,10,50,60) vs GT (10,10,50,50): IoU = 1600/2000 = 0.8 -> counts at 0.5..0.8, not above.
    m = coco_metrics(
        to_coco_dict([ImageRecord(1, "a.jpg", 100, 100, [(10, 10, 50, 50)], [0])]), [det(1, (10, 10, 50, 60), 0)]
    )
    assert m["map50"] == 1.0 and m["map75"] == 1.0
    assert m["map"] == 0.7  # IoU thresholds 0.50..0.80 pass (7 of 10)
