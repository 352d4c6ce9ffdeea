"""Letterbox + normalise: the one input transform shared by training, evaluation and serving."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations otherwise checks PyPI on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def letterbox(image_size: int) -> list[A.BasicTransform]:
    """Scale the longest side to `image_size`, pad bottom/right: input pixel = original pixel * scale."""
    return [
        A.LongestMaxSize(max_size=image_size),
        A.PadIfNeeded(image_size, image_size, position="top_left", border_mode=cv2.BORDER_CONSTANT, fill=0),
    ]


def normalize() -> A.Normalize:
    return A.Normalize(mean=MEAN, std=STD)


def inference_transform(image_size: int) -> A.Compose:
    return A.Compose([*letterbox(image_size), normalize()])
