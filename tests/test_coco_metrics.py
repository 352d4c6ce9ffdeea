from rpsdet.data.coco import ImageRecord, to_coco_dict
from rpsdet.evaluate.coco_metrics import coco_metrics

GT = to_coco_dict([
    ImageRecord(1, "a.jpg", 100, 100, [(10, 10, 50, 50)], [0]),
    ImageRecord(2, "b.jpg", 100, 100, [(20, 20, 70, 90)], [1]),
])


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
