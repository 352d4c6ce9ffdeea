import numpy as np

from rpsdet.evaluate.matching import confusion_rows, match_image, precision_recall_f1, worst_error

NAMES = ["rock", "paper", "scissors"]
GT_BOXES = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60]], dtype=float)
GT_LABELS = np.array([0, 1, 2])


def test_tp_wrong_class_fp_and_fn_are_told_apart():
    preds = np.array([[0, 0, 10, 11], [20, 20, 40, 40], [70, 70, 80, 80]], dtype=float)
    errors = match_image(GT_BOXES, GT_LABELS, preds, np.array([0, 2, 1]), np.array([0.9, 0.8, 0.7]))
    assert [o.kind for o in errors.outcomes] == ["tp", "wrong_class", "fp", "fn"]
    assert confusion_rows(errors, NAMES) == [
        {"actual": "rock", "predicted": "rock"},
        {"actual": "paper", "predicted": "scissors"},
        {"actual": "background", "predicted": "paper"},
        {"actual": "scissors", "predicted": "background"},
    ]
    assert worst_error(errors, NAMES) == "paper predicted as scissors (0.80)"
    # 1 TP of 3 predictions and 3 ground-truth boxes.
    assert precision_recall_f1(1, 1, 1, 1) == {"precision": 0.3333, "recall": 0.3333, "f1": 0.3333}


def test_each_ground_truth_box_is_matched_once_by_the_highest_score():
    preds = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], dtype=float)
    errors = match_image(GT_BOXES[:1], GT_LABELS[:1], preds, np.array([0, 0]), np.array([0.5, 0.9]))
    tp = [o for o in errors.outcomes if o.kind == "tp"]
    assert len(tp) == 1 and tp[0].score == 0.9 and errors.count("fp") == 1


def test_no_predictions_means_every_box_is_missed():
    errors = match_image(GT_BOXES, GT_LABELS, np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert errors.count("fn") == 3 and worst_error(errors, NAMES).startswith("missed")
