"""A finding: one row of the report. Every input image also gets one `result` row (kept or quarantined)."""

from __future__ import annotations

from dataclasses import dataclass

QUARANTINED, KEPT, FIXED, FLAGGED = "quarantined", "kept", "fixed", "flagged"
BOX_CLIPPED, BOX_DROPPED = "box_clipped", "box_dropped"
REPORT_FIELDS = ("image", "file", "check", "detail", "action")


@dataclass
class Finding:
    image: str  # image path relative to the source root ('' when the finding concerns no image)
    file: str  # the file the finding is about (the image, or its annotation file)
    check: str
    detail: str  # plain language: what is wrong and how to fix it
    action: str

    def row(self) -> dict:
        return {
            "image": self.image,
            "file": self.file,
            "check": self.check,
            "detail": self.detail,
            "action": self.action,
        }
