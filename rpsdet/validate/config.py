"""Every validation knob (params.yaml `validate:` + `classes.aliases`), with defaults a careful engineer picks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

POLICIES = ("quarantine", "flag")
UNLABELLED_POLICIES = ("quarantine", "keep")


@dataclass
class ValidateConfig:
    aliases: dict[str, str] = field(default_factory=dict)
    format: str | None = None  # None = detect VOC / COCO / YOLO from the files
    unlabelled: str = "quarantine"  # VOC / COCO image with no annotation at all: quarantine, or keep as background
    min_side: int = 32  # images smaller than this (either side, px) are quarantined
    max_side: int = 2048  # larger images are downscaled to this, boxes scaled with them
    max_pixels: int = 50_000_000  # larger images are refused without decoding (decompression bombs)
    clip_min_inside: float = 0.5  # a box partly outside is clipped if at least this share is inside, else dropped
    min_box_side: float = 1.0  # boxes thinner than this (px) are degenerate and dropped
    duplicate_iou: float = 0.95  # same-class boxes overlapping more than this are duplicates
    near_duplicate_distance: int = 4  # perceptual-hash bits (of 64) within which two images are near-duplicates
    near_duplicate_pixel_diff: float = 10.0  # ... and their 16x16 colour thumbnails differ by at most this (0..255)
    near_duplicates: str = "flag"  # within one source: flag and keep the later copy, or quarantine it
    leakage: str = "flag"  # a copy of a reference (train) image in this source: flag and keep it, or quarantine
    exif_ambiguous: str = "quarantine"  # EXIF-rotated image whose box frame cannot be decided: or flag (= upright)
    reference: Path | None = None  # another raw source (train) to check this one against for leakage
    workers: int = 0  # decode processes; 0 = every core this process may use

    def __post_init__(self) -> None:
        for name in ("near_duplicates", "leakage", "exif_ambiguous"):
            if getattr(self, name) not in POLICIES:
                raise ValueError(f"validate.{name} must be one of {POLICIES}, got {getattr(self, name)!r}")
        if self.unlabelled not in UNLABELLED_POLICIES:
            raise ValueError(f"validate.unlabelled must be one of {UNLABELLED_POLICIES}, got {self.unlabelled!r}")
        if not 0 <= self.near_duplicate_distance <= 32:
            raise ValueError(f"validate.near_duplicate_distance must be 0..32 bits, got {self.near_duplicate_distance}")

    @classmethod
    def from_params(cls, params: dict, **overrides) -> ValidateConfig:
        """Build from a whole params dict: `validate:` keys plus `classes.aliases`; unknown keys are refused."""
        section = dict(params.get("validate") or {})
        known = {f.name for f in fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"unknown validate.* params: {sorted(unknown)}")
        section = {k: v for k, v in section.items() if k in known}
        aliases = (params.get("classes") or {}).get("aliases") or {}
        return cls(**{**section, "aliases": aliases, **overrides})
