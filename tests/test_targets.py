import torch

from rpsdet.model.targets import to_effdet_targets


def test_targets_are_yxyx_one_based_and_padded_with_minus_one():
    boxes = [torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 5.0, 8.0, 9.0]]), torch.zeros((0, 4))]
    labels = [torch.tensor([2, 0]), torch.zeros((0,), dtype=torch.long)]
    t = to_effdet_targets(boxes, labels, image_size=128)
    # Hand-computed: xyxy (10, 20, 30, 60) -> yxyx (20, 10, 60, 30); class 2 (scissors) -> 3.0.
    assert t["bbox"].tolist() == [[[20.0, 10.0, 60.0, 30.0], [5.0, 0.0, 9.0, 8.0]], [[-1.0] * 4, [-1.0] * 4]]
    assert t["cls"].tolist() == [[3.0, 1.0], [-1.0, -1.0]]
    assert t["img_size"].tolist() == [[128.0, 128.0]] * 2 and t["img_scale"].tolist() == [1.0, 1.0]
