"""Slices computed from the data itself (any dataset, not only synthetic): objects, brightness, blur, box size.

A slice is named by its rule, e.g. `objects>=2` or `brightness==dark`; the same text selects it for mining.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np

from rpsdet.data.image_measures import SliceThresholds, image_looks

# COCO's own area ranges (pixels^2).
BOX_SIZES = {"small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, float("inf"))}
IMAGE_SLICES: dict[str, tuple[str, ...]] = {"brightness": ("dark", "normal", "bright"), "blur": ("blurry", "sharp")}
FAMILIES = ("objects", *IMAGE_SLICES)


def image_attributes(image: np.ndarray, n_objects: int, t: SliceThresholds) -> dict[str, object]:
    """Slice attributes of one RGB uint8 image (boxes in it, brightness, blur), plus the raw measurements."""
    return {"objects": n_objects, **image_looks(image, t)}


def box_size(box: tuple[float, float, float, float]) -> str:
    area = (box[2] - box[0]) * (box[3] - box[1])
    return next(name for name, (lo, hi) in BOX_SIZES.items() if lo <= area < hi)


_RULE = re.compile(r"^\s*(\w+)\s*(==|>=|<=|>|<|=)\s*(\w+)\s*$")
_OPS = {"==": operator.eq, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class SliceRule:
    """`family op value`: numeric comparisons for `objects` (boxes per image), equality for the others."""

    family: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> SliceRule:
        m = _RULE.match(str(text))
        if not m:
            raise ValueError(f"slice rule {text!r} is not of the form objects>=2 or brightness==dark")
        family, op, value = m.groups()
        op = "==" if op == "=" else op
        if family not in FAMILIES:
            raise ValueError(f"slice rule {text!r}: unknown family {family!r}; use one of {', '.join(FAMILIES)}")
        if family == "objects" and not value.isdigit():
            raise ValueError(f"slice rule {text!r}: objects needs a whole number, e.g. objects>=2")
        if family != "objects" and (op != "==" or value not in IMAGE_SLICES[family]):
            raise ValueError(f"slice rule {text!r}: use {family}==<{'|'.join(IMAGE_SLICES[family])}>")
        return cls(family, op, value)

    def __str__(self) -> str:
        return f"{self.family}{self.op}{self.value}"

    def matches(self, attributes: dict) -> bool:
        if self.family == "objects":
            return _OPS[self.op](int(attributes["objects"]), int(self.value))
        return attributes[self.family] == self.value


def standard_rules() -> list[SliceRule]:
    """The slices every evaluation reports: 0 / 1 / 2 / 3+ objects, several objects, brightness, blur."""
    rules = [SliceRule("objects", "==", str(n)) for n in (0, 1, 2)]
    rules += [SliceRule("objects", ">=", "3"), SliceRule("objects", ">=", "2")]
    rules += [SliceRule(family, "==", value) for family, values in IMAGE_SLICES.items() for value in values]
    return rules
