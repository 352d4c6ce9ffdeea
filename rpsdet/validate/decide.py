"""Per-image decision: image checks, then annotation checks, giving the boxes to keep and how to fix the pixels.

Pure logic on facts already gathered (no file access), so every rule is easy to test and to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rpsdet.classes import resolve_class
from rpsdet.data.formats import Problem, RawAnnotation
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.findings import BOX_CLIPPED, BOX_DROPPED, FIXED, FLAGGED, QUARANTINED, Finding
from rpsdet.validate.geometry import Box, clip, inside_fraction, iou, orient_box, scale_box
from rpsdet.validate.images import SUFFIX_FORMAT, SWAPS_AXES, ImageInfo

MODE_OK = "RGB"
# Formats where an image without an annotation file is a background image by convention (Ultralytics reads a
# missing label file as "no objects"); elsewhere a missing annotation means the image was never labelled.
MISSING_MEANS_BACKGROUND = {"yolo"}
ROUNDING_PX = 0.5  # a box edge this far past the image border is rounding (YOLO's 6 decimals), not a mistake
# Reader problems that make an image's labels unusable (the others are only reported).
QUARANTINING_PROBLEMS = {"unparseable_annotation", "duplicate_image_id"}


@dataclass
class Decision:
    image: str
    keep: bool = True
    findings: list[Finding] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)  # upright output pixels, after any downscale
    labels: list[int] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)  # output width, height
    reencode: bool = False  # pixels must be rewritten (format, mode, orientation or size change)
    scale: float = 1.0  # downscale factor applied to the upright image
    flags: dict = field(default_factory=dict)  # what later stages must know (ImageRecord.flags)

    def note(self, file: str, check: str, detail: str, action: str) -> None:
        self.findings.append(Finding(self.image, file, check, detail, action))
        if action == QUARANTINED:
            self.keep = False


def _image_checks(d: Decision, info: ImageInfo, cfg: ValidateConfig) -> None:
    if info.error:
        d.note(info.path, info.error, info.detail, QUARANTINED)
        return
    w, h = info.size
    if min(w, h) < cfg.min_side:
        d.note(
            info.path,
            "too_small",
            f"{w}x{h} is under validate.min_side={cfg.min_side} px; use a larger original",
            QUARANTINED,
        )
        return
    suffix = "." + info.path.rsplit(".", 1)[-1].lower()
    real = "JPEG" if info.format == "MPO" else info.format
    if SUFFIX_FORMAT.get(suffix) != real:
        d.note(
            info.path,
            "extension_mismatch",
            f"named {suffix} but the bytes are {info.format}; re-encoded as {SUFFIX_FORMAT.get(suffix)}",
            FIXED,
        )
        d.reencode = True
    if info.mode != MODE_OK:
        d.note(info.path, "non_rgb_mode", f"mode {info.mode}; converted to RGB", FIXED)
        d.reencode = True
    if max(w, h) > cfg.max_side:
        d.scale = cfg.max_side / max(w, h)
        d.note(
            info.path,
            "oversized",
            f"{w}x{h} is over validate.max_side={cfg.max_side}; downscaled by {d.scale:.3f} with its boxes",
            FIXED,
        )
        d.reencode = True
    d.size = (max(1, round(w * d.scale)), max(1, round(h * d.scale)))


def _box_frame(d: Decision, info: ImageInfo, ann: RawAnnotation, cfg: ValidateConfig) -> str | None:
    """Which pixels the boxes were drawn on: 'stored' or 'upright' (None = quarantined, undecidable)."""
    if info.orientation == 1:
        return "stored"
    d.reencode = True
    recorded = (ann.width, ann.height)
    if ann.normalized:
        frame, why = "upright", "fractional (YOLO) boxes follow the upright image, as Ultralytics reads it"
    elif info.orientation in SWAPS_AXES and recorded == info.size:
        frame, why = "upright", "the recorded size matches the rotated view"
    elif info.orientation in SWAPS_AXES and recorded == info.raw_size:
        frame, why = "stored", "the recorded size matches the stored pixels; boxes rotated with the image"
    elif cfg.exif_ambiguous == "flag":
        d.note(
            info.path,
            "exif_orientation_ambiguous",
            f"EXIF orientation {info.orientation}: cannot tell which "
            "view the boxes were drawn on; assumed the upright view (validate.exif_ambiguous=flag)",
            FLAGGED,
        )
        return "upright"
    else:
        d.note(
            info.path,
            "exif_orientation_ambiguous",
            f"EXIF orientation {info.orientation}: cannot tell which "
            "view the boxes were drawn on; re-export the image upright (no EXIF rotation) with its boxes",
            QUARANTINED,
        )
        return None
    d.note(info.path, "exif_orientation", f"EXIF orientation {info.orientation} applied to the pixels; {why}", FIXED)
    return frame


def _to_upright(d: Decision, info: ImageInfo, ann: RawAnnotation, frame: str) -> tuple[float, float] | None:
    """Scale factors from annotation coordinates to upright pixels, checking the recorded size."""
    w, h = info.size
    if ann.normalized:
        return (w, h)
    frame_size = info.raw_size if frame == "stored" else info.size
    rw, rh = ann.width, ann.height
    if rw is None or rh is None or (rw, rh) == frame_size:
        return (1.0, 1.0)
    fw, fh = frame_size
    if abs(rw / rh - fw / fh) < 0.01 * fw / fh:
        d.note(
            ann.file,
            "size_mismatch",
            f"annotation says {rw}x{rh}, image is {fw}x{fh} (same shape); boxes scaled to the real size",
            FIXED,
        )
        return (fw / rw, fh / rh)
    d.note(
        ann.file,
        "size_mismatch",
        f"annotation says {rw}x{rh}, image is {fw}x{fh}: the boxes belong to another "
        "image or crop; re-export the annotation",
        QUARANTINED,
    )
    return None


def _boxes(
    d: Decision, info: ImageInfo, ann: RawAnnotation, cfg: ValidateConfig, frame: str, factors: tuple[float, float]
) -> None:
    w, h = info.size
    unknown: list[str] = []
    unboxed: dict[str, list[str]] = {}
    for n, obj in enumerate(ann.objects, 1):
        label = resolve_class(obj.name, cfg.aliases) if obj.name else None
        if obj.box is None:
            unboxed.setdefault(obj.check, []).append(f"object #{n} ({obj.name or 'no name'}) {obj.problem}")
            continue
        if label is None:
            unknown.append(obj.name or f"object #{n} has no class name")
            continue
        box = scale_box(obj.box, *factors)
        if frame == "stored" and info.orientation != 1:
            box = orient_box(box, info.orientation, *info.raw_size)
        x1, y1, x2, y2 = box
        if x2 < x1 or y2 < y1:  # only VOC corners get here: readers refuse negative COCO / YOLO sizes
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            d.note(ann.file, "inverted_box", f"object #{n} ({obj.name}) had its corners swapped; reordered", FIXED)
        if min(box[2] - box[0], box[3] - box[1]) < cfg.min_box_side:
            d.note(
                ann.file,
                "degenerate_box",
                f"object #{n} ({obj.name}) box {_fmt(box)} has (almost) no area; dropped, redraw it",
                BOX_DROPPED,
            )
            continue
        if max(-box[0], -box[1], box[2] - w, box[3] - h) <= ROUNDING_PX:
            box = clip(box, w, h)  # a box on the edge, past it only by the export's float rounding: not a finding
        inside = inside_fraction(box, w, h)
        if inside < 1.0 - 1e-9:
            if inside < cfg.clip_min_inside:
                d.note(
                    ann.file,
                    "box_outside_image",
                    f"object #{n} ({obj.name}) box {_fmt(box)} is only {inside:.0%} inside the {w}x{h} image; dropped",
                    BOX_DROPPED,
                )
                continue
            box = clip(box, w, h)
            d.note(
                ann.file,
                "box_outside_image",
                f"object #{n} ({obj.name}) was {inside:.0%} inside the image; clipped to {_fmt(box)}",
                BOX_CLIPPED,
            )
        _add_unless_duplicate(d, ann.file, n, obj.name, box, label, cfg)
    if "object_without_box" in unboxed:
        d.note(
            ann.file,
            "object_without_box",
            "; ".join(unboxed.pop("object_without_box")) + ": a hand without a "
            "box would teach 'background'; draw the box",
            QUARANTINED,
        )
    for check, objects in sorted(unboxed.items()):
        d.note(
            ann.file,
            check,
            "; ".join(objects) + ": the labeling tool wrote an impossible box; redraw it and re-export",
            QUARANTINED,
        )
    if unknown:
        d.note(
            ann.file,
            "unknown_class",
            f"unknown class name(s) {sorted(set(unknown))}; add them to classes.aliases in params.yaml",
            QUARANTINED,
        )


def _add_unless_duplicate(d: Decision, file: str, n: int, name: str, box: Box, label: int, cfg: ValidateConfig) -> None:
    for other, other_label in zip(d.boxes, d.labels):
        if iou(box, other) > cfg.duplicate_iou:
            if other_label == label:
                d.note(
                    file,
                    "duplicate_box",
                    f"object #{n} ({name}) repeats another {name} box (IoU > {cfg.duplicate_iou}); dropped",
                    BOX_DROPPED,
                )
            else:
                d.note(
                    file,
                    "conflicting_labels",
                    f"object #{n} ({name}) sits on the same box as another class; decide which label is right",
                    QUARANTINED,
                )
            return
    d.boxes.append(box)
    d.labels.append(label)


def _fmt(box: Box) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in box) + "]"


def decide(
    info: ImageInfo, ann: RawAnnotation | None, problems: list[Problem], cfg: ValidateConfig, fmt: str
) -> Decision:
    """Everything known about one image -> keep or quarantine, the fixed boxes, and every finding.

    An image with no boxes is a background image, kept: an empty annotation (any format), or a YOLO image
    without a label file. A VOC / COCO image without any annotation is unlabelled: `validate.unlabelled` decides.
    """
    d = Decision(info.path)
    _image_checks(d, info, cfg)
    for p in problems:
        d.note(p.file, p.check, p.detail, QUARANTINED if p.check in QUARANTINING_PROBLEMS else FLAGGED)
    if not d.keep:
        return d
    if ann is None and fmt not in MISSING_MEANS_BACKGROUND:
        if cfg.unlabelled == "quarantine":
            d.note(
                info.path,
                "unlabelled_image",
                f"no {fmt.upper()} annotation for this image: label it (an empty "
                "annotation marks a background image), or set validate.unlabelled: keep",
                QUARANTINED,
            )
            return d
        d.note(
            info.path,
            "unlabelled_image",
            f"no {fmt.upper()} annotation for this image; kept as a background image (validate.unlabelled=keep)",
            FLAGGED,
        )
    if ann is None:  # a background image: only its pixels need turning upright
        if info.orientation != 1:
            d.reencode = True
            d.note(info.path, "exif_orientation", f"EXIF orientation {info.orientation} applied to the pixels", FIXED)
        return d
    frame = _box_frame(d, info, ann, cfg)
    factors = _to_upright(d, info, ann, frame) if frame else None
    if factors is None:
        return d
    _boxes(d, info, ann, cfg, frame, factors)
    if not d.keep:
        return d
    if ann.objects and not d.boxes:
        d.note(ann.file, "no_boxes_left", "every box was dropped (see the rows above); fix the annotation", QUARANTINED)
    d.boxes = [clip(scale_box(b, d.scale, d.scale), *d.size) for b in d.boxes]
    return d
