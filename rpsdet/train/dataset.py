"""A canonical COCO dataset as tensors, with bbox-safe albumentations on the way in."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from rpsdet.data.coco import image_path, read_coco
from rpsdet.model.preprocess import A, letterbox, normalize


def train_transform(image_size: int, scale_jitter: float, color_jitter: float) -> A.Compose:
    """Flip, scale jitter and colour, then the same letterbox + normalise that inference uses."""
    augment = [
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(1 - scale_jitter, 1 + scale_jitter), translate_percent=(-0.1, 0.1), p=0.7 if scale_jitter else 0.0),
        A.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter, hue=0.03,
                      p=0.8 if color_jitter else 0.0),
    ]
    return A.Compose([*augment, *letterbox(image_size), normalize()],
                     bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3))


def eval_transform(image_size: int) -> A.Compose:
    return A.Compose([*letterbox(image_size), normalize()],
                     bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))


class DetectionDataset(Dataset):
    """Yields (CHW float image, (N,4) xyxy boxes in input pixels, (N,) 0-based labels)."""

    def __init__(self, coco_path, transform: A.Compose):
        self.coco_path = coco_path
        self.records = read_coco(coco_path)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        rec = self.records[index]
        image = np.asarray(Image.open(image_path(self.coco_path, rec)).convert("RGB"))
        out = self.transform(image=image, bboxes=np.asarray(rec.boxes, dtype=np.float32).reshape(-1, 4),
                             labels=np.asarray(rec.labels, dtype=np.int64))
        boxes = torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4))
        labels = torch.as_tensor(np.asarray(out["labels"]).astype(np.int64))  # albumentations returns floats
        return torch.from_numpy(out["image"]).permute(2, 0, 1).contiguous(), boxes, labels


def collate(batch):
    images, boxes, labels = zip(*batch)
    return torch.stack(images), list(boxes), list(labels)
