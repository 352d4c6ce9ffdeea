"""A canonical COCO dataset as tensors, with bbox-safe albumentations (rpsdet.train.transforms) on the way in.

Images are decoded no larger than the network input (`load_reduced`), optionally once into RAM (train.cache).
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from rpsdet.data.coco import ImageRecord, image_path, read_coco
from rpsdet.model.preprocess import A
from rpsdet.train.transforms import MOSAIC_KEY, MOSAIC_PARTNERS

CACHE_MODES = ("none", "ram")
RAM_SHARE_LIMIT = 0.5  # train.cache: ram refuses to take more than this share of the machine's memory


def reduced_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The letterbox's size for an image: longest side `max_side`; smaller images keep their size."""
    scale = max_side / max(width, height)
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def load_reduced(path: Path, boxes: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The image as RGB uint8 at the letterbox's size (longest side `max_side`), and its xyxy boxes scaled with it.

    Decoding a 640-px JPEG in full to train at 256 px wastes most of the decode. A JPEG is decoded by libjpeg's
    DCT scaling (PIL `draft`) at 1/2, 1/4 or 1/8 size, the smallest that stays at least as large as the target;
    one resize with the letterbox's own interpolation (cv2 bilinear) then gives the letterbox's size, so the
    train transform's letterbox becomes a no-op. Other formats are decoded in full, then resized. Boxes follow the
    pixels exactly: a draft by s makes decoded pixel i out of original pixels [s*i, s*i + s), so x -> x / s, then
    the resize multiplies by new/decoded size per axis. When a side is not a multiple of s, its last decoded
    pixel is part padding and the picture comes out up to s-1 original pixels smaller than the letterbox's
    (under one pixel of the result); the boxes shrink with it. Smaller images are left as they are. As with
    Ultralytics' cache, zoom-in augmentation (scale jitter > 1) then starts from input-size pixels.
    """
    with Image.open(path) as im:
        width, height = im.size
        size = reduced_size(width, height, max_side)
        drafted = im.draft("RGB", size) if size != (width, height) else None  # None: not a JPEG, or no need
        image = np.asarray(im.convert("RGB"))
    decoded_h, decoded_w = image.shape[:2]
    if (decoded_w, decoded_h) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    draft_scale = width / drafted[1][2] if drafted is not None else 1.0
    factors = np.asarray(
        [size[0] / (decoded_w * draft_scale), size[1] / (decoded_h * draft_scale)] * 2, dtype=np.float32
    )
    return image, boxes * factors


def cache_bytes(records: list[ImageRecord], max_side: int) -> int:
    """RAM that train.cache: ram takes for these images decoded at `max_side` (uint8 RGB)."""
    return sum(3 * w * h for w, h in (reduced_size(r.width, r.height, max_side) for r in records))


class DetectionDataset(Dataset):
    """Yields (CHW float image, (N,4) xyxy boxes in input pixels, (N,) 0-based labels).

    Images are decoded at the network input size `image_size` (`load_reduced`); with cache="ram" all of them
    once, up front, on every core (DataLoader workers then share the memory with the main process).
    Each item seeds the transform from Python's `random`, which the train loop seeds and the DataLoader reseeds
    per worker: albumentations keeps its own generator and ignores global seeds, so without this no two runs
    augment alike.
    """

    def __init__(self, coco_path, transform: A.Compose, image_size: int, cache: str = "none"):
        if cache not in CACHE_MODES:
            raise ValueError(f"train.cache must be one of {CACHE_MODES}, got {cache!r}")
        self.coco_path = coco_path
        self.records = read_coco(coco_path)
        self.transform = transform
        self.image_size = image_size
        self.mosaic = any(isinstance(t, A.Mosaic) for t in transform.transforms)
        if self.mosaic and len(self.records) <= MOSAIC_PARTNERS:
            raise ValueError(f"mosaic needs more than {MOSAIC_PARTNERS} images, {coco_path} has {len(self.records)}")
        self.cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache == "ram":
            self._fill_cache()

    def __len__(self) -> int:
        return len(self.records)

    def _fill_cache(self) -> None:
        needed = cache_bytes(self.records, self.image_size)
        machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if needed > RAM_SHARE_LIMIT * machine:
            raise ValueError(
                f"train.cache: ram needs {needed / 2**30:.1f} GiB for {len(self.records)} images at "
                f"{self.image_size} px, more than {RAM_SHARE_LIMIT:.0%} of this machine's "
                f"{machine / 2**30:.1f} GiB: set train.cache: none (images are then decoded each step)"
            )
        print(
            f"train.cache: ram: decoding {len(self.records)} images at <= {self.image_size} px into "
            f"{needed / 2**20:,.0f} MiB of RAM",
            flush=True,
        )
        started = time.perf_counter()
        with ThreadPoolExecutor(len(os.sched_getaffinity(0))) as pool:  # PIL decodes outside the GIL
            self.cache = list(pool.map(self._load, range(len(self.records))))
        print(f"train.cache: ram: filled in {time.perf_counter() - started:.1f} s", flush=True)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rec = self.records[index]
        boxes = np.asarray(rec.boxes, dtype=np.float32).reshape(-1, 4)
        image, boxes = load_reduced(image_path(self.coco_path, rec), boxes, self.image_size)
        image.flags.writeable = False  # a cached image is shared by every epoch: no transform may edit it
        return image, boxes

    def _sample(self, index: int) -> dict[str, np.ndarray]:
        image, boxes = self.cache[index] if self.cache is not None else self._load(index)
        return {"image": image, "bboxes": boxes, "labels": np.asarray(self.records[index].labels, dtype=np.int64)}

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
