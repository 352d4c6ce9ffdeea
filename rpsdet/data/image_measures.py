"""How an image looks, measured from its pixels: brightness and sharpness (no torch).

One definition for everyone who needs it: evaluation slices (`brightness==dark`, `blur==blurry`), failure mining on
the training images, and the dataset health report, so a "dark" test image means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SliceThresholds:
    """Where brightness and blur are cut into named buckets (params `evaluate.slices`)."""

    dark_below: float = 70.0  # mean luma, 0..255
    bright_above: float = 170.0
    blurry_below: float = 150.0  # variance of the Laplacian of the grey image, measured at MEASURE_SIDE


# Sharpness is measured on the image scaled down to this short side (never up): the Laplacian's variance falls as
# resolution grows (a 640-px phone frame scored ~16 where the same scene at 240 px scores ~150), so one threshold
# fits 320x240 synthetic images and 640-px exports alike. 240 is the demo's own height: its figures are unchanged.
MEASURE_SIDE = 240


def image_looks(image: np.ndarray, t: SliceThresholds) -> dict[str, object]:
    """Brightness and blur bucket of one RGB uint8 image, plus the raw measurements they came from."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    luma = float(grey.mean())
    sharpness = float(cv2.Laplacian(_at_measure_side(grey), cv2.CV_64F).var())
    return {
        "brightness": "dark" if luma < t.dark_below else "bright" if luma > t.bright_above else "normal",
        "blur": "blurry" if sharpness < t.blurry_below else "sharp",
        "mean_luma": round(luma, 1),
        "laplacian_var": round(sharpness, 1),
    }


def _at_measure_side(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape
    scale = MEASURE_SIDE / min(h, w)
    if scale >= 1.0:
        return grey
    return cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
