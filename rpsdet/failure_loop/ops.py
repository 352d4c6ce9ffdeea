"""The lab's three augmentation jobs as named, bbox-aware albumentations pipelines."""

from __future__ import annotations

import warnings
from typing import Any

from rpsdet.model.preprocess import A

OPERATIONS = ("brightness", "blur", "crop")


def build_operation(name: str, params: dict[str, Any], image_size: tuple[int, int], seed: int) -> A.Compose:
    """One operation, always applied (p=1); boxes below `min_visibility` after the transform are dropped.

    image_size is (height, width): crops are resized back to it, so augmented images match their source.
    """
    if name == "brightness":
        transform = A.RandomBrightnessContrast(
            brightness_limit=tuple(params["brightness_limit"]), contrast_limit=tuple(params["contrast_limit"]), p=1.0
        )
    elif name == "blur":
        transform = A.GaussianBlur(sigma_limit=tuple(params["sigma_limit"]), p=1.0)
    elif name == "crop":
        transform = A.RandomResizedCrop(
            size=image_size, scale=tuple(params["scale"]), ratio=tuple(params["ratio"]), p=1.0
        )
    else:
        raise ValueError(f"unknown augmentation {name!r}; use one of {', '.join(OPERATIONS)}")
    with warnings.catch_warnings():  # pixel-only transforms leave boxes alone, which albumentations warns about
        warnings.filterwarnings("ignore", message="Got processor for bboxes")
        return A.Compose(
            [transform],
            seed=seed,
            save_applied_params=True,
            bbox_params=A.BboxParams(
                format="pascal_voc", label_fields=["labels"], min_visibility=params.get("min_visibility", 0.0)
            ),
        )
