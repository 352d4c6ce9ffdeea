"""Box arithmetic the checks share: IoU, clipping, and moving boxes with an EXIF orientation or a resize."""

from __future__ import annotations

Box = tuple[float, float, float, float]


def area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Box, b: Box) -> float:
    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def clip(b: Box, width: int, height: int) -> Box:
    return (
        min(max(b[0], 0.0), width),
        min(max(b[1], 0.0), height),
        min(max(b[2], 0.0), width),
        min(max(b[3], 0.0), height),
    )


def inside_fraction(b: Box, width: int, height: int) -> float:
    """Share of the box's area that lies inside the image (1.0 = fully inside)."""
    return area(clip(b, width, height)) / area(b) if area(b) > 0 else 0.0


def _point(x: float, y: float, orientation: int, w: int, h: int) -> tuple[float, float]:
    """Where a point of the stored image (w x h) lands after Pillow's exif_transpose for this orientation."""
    return {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }[orientation]


def orient_box(b: Box, orientation: int, w: int, h: int) -> Box:
    """Move a box drawn on the stored pixels onto the upright image that exif_transpose produces."""
    (xa, ya), (xb, yb) = _point(b[0], b[1], orientation, w, h), _point(b[2], b[3], orientation, w, h)
    return (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))


def scale_box(b: Box, sx: float, sy: float) -> Box:
    return (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)
