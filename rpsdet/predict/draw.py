"""Boxes and labels drawn onto a frame, one colour per class; line width and text grow with the image."""

from __future__ import annotations

import cv2
import numpy as np

from rpsdet.model.predict import Detection

CLASS_COLOURS = ((230, 60, 60), (40, 120, 255), (40, 190, 70))  # RGB, by 0-based class id
FALLBACK_COLOUR = (255, 200, 0)


def draw_detections(rgb: np.ndarray, detections: list[Detection], names: list[str]) -> np.ndarray:
    """A copy of `rgb` (HxWx3 uint8) with each detection boxed and labelled `name score`."""
    out = np.ascontiguousarray(rgb).copy()
    side = max(out.shape[:2])
    thickness = max(1, round(side / 320))
    font_scale = max(0.35, side / 1000)
    for d in detections:
        colour = CLASS_COLOURS[d.label] if d.label < len(CLASS_COLOURS) else FALLBACK_COLOUR
        x1, y1, x2, y2 = (round(v) for v in d.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        text = f"{names[d.label]} {d.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(0, y1 - th - base)
        cv2.rectangle(out, (x1, top), (x1 + tw, top + th + base), colour, -1)
        cv2.putText(
            out, text, (x1, top + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    return out
