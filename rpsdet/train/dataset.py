"""A canonical COCO dataset as tensors, with bbox-safe albumentations on the way in."""
from __future__ import annotations

import random

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from rpsdet.data.coco import image_path, read_coco
from rpsdet.model.preprocess import A, letterbox, normalize

MOSAIC_KEY = "mosaic_metadata"
MOSAIC_PARTNERS = 3  # a 2x2 mosaic: the image and three others


def train_transform(image_size: int, scale_jitter: float, color_jitter: float, mosaic: float = 0.0) -> A.Compose:
    """Mosaic, flip, scale jitter and colour, then the same letterbox + normalise that inference uses.

    With probability `mosaic` the image is first tiled 2x2 with three other training images (DetectionDataset
    passes them under MOSAIC_KEY), each at half the letterbox scale: one-hand images become scenes of several
    smaller hands, the kind the train source rarely has. mosaic=0 leaves the transform exactly as it was.
    """
    half = image_size // 2
    tile = [A.Mosaic(grid_yx=(2, 2), target_size=(image_size, image_size), cell_shape=(half, half),
                     fit_mode="contain", metadata_key=MOSAIC_KEY, p=mosaic)] if mosaic else []
    augment = [
        *tile,
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
    """Yields (CHW float image, (N,4) xyxy boxes in input pixels, (N,) 0-based labels).

    Each item seeds the transform from Python's `random`, which the train loop seeds and the DataLoader reseeds
    per worker: albumentations keeps its own generator and ignores global seeds, so without this no two runs
    augment alike.
    """

    def __init__(self, coco_path, transform: A.Compose):
        self.coco_path = coco_path
        self.records = read_coco(coco_path)
        self.transform = transform
        self.mosaic = any(isinstance(t, A.Mosaic) for t in transform.transforms)
        if self.mosaic and len(self.records) <= MOSAIC_PARTNERS:
            raise ValueError(f"mosaic needs more than {MOSAIC_PARTNERS} images, {coco_path} has {len(self.records)}")

    def __len__(self) -> int:
        return len(self.records)

    def _sample(self, index: int) -> dict[str, np.ndarray]:
        rec = self.records[index]
        return {"image": np.asarray(Image.open(image_path(self.coco_path, rec)).convert("RGB")),
                "bboxes": np.asarray(rec.boxes, dtype=np.float32).reshape(-1, 4),
                "labels": np.asarray(rec.labels, dtype=np.int64)}

    def __getitem__(self, index: int):
        seed = random.getrandbits(32) ^ index  # DDP ranks share the loop's seed: the index keeps them apart
        self.transform.set_random_seed(seed)
        extra = {}
        if self.mosaic:  # partners are loaded even when the mosaic's coin says no: 3 small decodes
            others = random.Random(seed).sample(range(len(self.records) - 1), MOSAIC_PARTNERS)
            extra[MOSAIC_KEY] = [self._sample(j + (j >= index)) for j in others]  # every index but this one
        out = self.transform(**self._sample(index), **extra)
        boxes = torch.as_tensor(np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4))
        labels = torch.as_tensor(np.asarray(out["labels"]).astype(np.int64))  # albumentations returns floats
        return torch.from_numpy(out["image"]).permute(2, 0, 1).contiguous(), boxes, labels


def collate(batch):
    images, boxes, labels = zip(*batch)
    return torch.stack(images), list(boxes), list(labels)
