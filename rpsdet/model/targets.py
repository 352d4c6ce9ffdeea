"""Translate the project's xyxy / 0-based boxes into effdet's training targets (yxyx, 1-based, -1 padded)."""

from __future__ import annotations

import torch


def to_effdet_targets(
    boxes: list[torch.Tensor], labels: list[torch.Tensor], image_size: int
) -> dict[str, torch.Tensor]:
    """Batch targets for `DetBenchTrain`.

    boxes[i]: (N_i, 4) xyxy in network-input pixels; labels[i]: (N_i,) 0-based class ids.
    effdet's anchor labeler wants yxyx boxes and 1-based float classes (0 would silently mean background),
    padded with -1 to a common length; an image without boxes is allowed.
    """
    batch = len(boxes)
    longest = max([1] + [len(b) for b in boxes])
    bbox = torch.full((batch, longest, 4), -1.0)
    cls = torch.full((batch, longest), -1.0)
    for i, (b, c) in enumerate(zip(boxes, labels)):
        if len(b):
            bbox[i, : len(b)] = b[:, [1, 0, 3, 2]].float()
            cls[i, : len(c)] = c.float() + 1.0
    return {
        "bbox": bbox,
        "cls": cls,
        "img_scale": torch.ones(batch),
        "img_size": torch.tensor([[image_size, image_size]] * batch, dtype=torch.float32),
    }
