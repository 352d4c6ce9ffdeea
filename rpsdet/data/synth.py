"""Procedural rock / paper / scissors hands on cluttered backgrounds, written as PASCAL VOC sources.

Why synthetic: nothing may be downloaded, yet the pipeline must run end to end on real pixels. The generator
makes multi-hand scenes (smaller, overlapping hands) rare in the train source and common in the test source,
so "several hands" is the model's natural weak spot, as in the lab this project reproduces.
A SceneStyle widens the variety (hand scales, rotations, skin tints, background kinds, exposure, camera blur,
colour temperature, JPEG quality) for the synthetic pretraining set; its defaults draw the demo's sources.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.formats.voc import VocObject, VocRecord, write_voc

SKIN_TONES = np.array(
    [
        (255, 224, 189),
        (241, 194, 125),
        (224, 172, 105),
        (198, 134, 66),
        (170, 110, 70),
        (141, 85, 36),
        (110, 65, 35),
        (92, 51, 23),
    ],
    dtype=np.float64,
)

Point = tuple[float, float]
BACKGROUNDS = ("clutter", "tiles", "bokeh")
# Camera effects drawn by albumentations, each with its own probability in SceneStyle.camera.
CAMERA_OPS = ("motion_blur", "defocus", "iso_noise", "colour_temperature", "light_spot", "gamma")


@dataclass(frozen=True)
class SceneStyle:
    """How varied the scenes are. The defaults are the demo's sources, pixel for pixel (a widened range draws
    different random numbers); params.yaml `pretrain.synth.style` widens them for the pretraining set."""

    single_hand_scale: tuple[float, float] = (0.38, 0.62)  # palm-to-palm span as a share of the short side
    multi_hand_scale: tuple[float, float] = (0.2, 0.36)  # the same when several hands share the image
    max_rotation: float = 45.0  # degrees either way (plus 10 % upside down)
    tone_tint: float = 0.0  # per-hand, per-channel tint (relative std) on top of the 8-tone palette; 0 = palette
    backgrounds: tuple[str, ...] = ("clutter",)  # drawn uniformly from BACKGROUNDS
    clutter: tuple[int, int] = (4, 14)  # shapes over the background, [low, high)
    exposure: tuple[float, float] = (0.55, 1.35)  # global gain
    sensor_noise: tuple[float, float] = (2.0, 9.0)  # Gaussian noise std range, 0..255 levels
    gaussian_blur: float = 0.25  # probability of a soft Gaussian blur (sigma 0.5-1.6)
    camera: dict[str, float] = field(default_factory=dict)  # CAMERA_OPS name -> probability (albumentations)
    jpeg_quality: tuple[int, int] = (90, 90)  # saved JPEG quality range

    def __post_init__(self) -> None:
        unknown = sorted(set(self.backgrounds) - set(BACKGROUNDS)) + sorted(set(self.camera) - set(CAMERA_OPS))
        if unknown or not self.backgrounds:
            raise ValueError(
                f"synth style: unknown {unknown or 'empty backgrounds'}; backgrounds are {BACKGROUNDS}, "
                f"camera effects {CAMERA_OPS}"
            )

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> SceneStyle:
        """From YAML: lists become the tuples the dataclass holds."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (params or {}).items()})


@dataclass(frozen=True)
class Capsule:
    """A finger: a segment with round ends, in hand units (palm width = 1, fingers point to -y)."""

    a: Point
    b: Point
    width: float


@dataclass
class DrawnHand:
    label: int  # 0-based class id
    box: tuple[int, int, int, int]  # tight xyxy around the hand's pixels, x2/y2 exclusive
    mask: np.ndarray  # bool HxW, the pixels this hand drew (before later hands covered it)


def hand_shape(label: int, rng: np.random.Generator) -> tuple[list[Point], list[Capsule]]:
    """Palm polygon and finger capsules for one gesture, with a little per-hand variation."""
    jitter = lambda s: float(rng.normal(0.0, s))  # noqa: E731 - tiny local helper
    palm_w, palm_h = 1.0, 1.05 + jitter(0.05)
    if label == 0:  # rock: rounder, wider fist
        palm_h = 0.95 + jitter(0.04)
    palm = [
        (0.5 * palm_w * math.cos(t), 0.5 * palm_h * math.sin(t) + 0.05 * math.sin(t) ** 3)
        for t in np.linspace(0, 2 * math.pi, 36, endpoint=False)
    ]
    top = -0.5 * palm_h
    bases = [(-0.33, top + 0.08), (-0.11, top + 0.02), (0.11, top + 0.02), (0.33, top + 0.08)]
    fw = 0.22 + jitter(0.015)
    fingers: list[Capsule] = []
    if label == 1:  # paper: four spread fingers and an open thumb
        angles = [-24, -8, 8, 24]
        lengths = [0.75, 0.98, 0.92, 0.68]
        for (bx, by), ang, length in zip(bases, angles, lengths):
            ang = math.radians(ang + jitter(4))
            length *= 1 + jitter(0.06)
            fingers.append(Capsule((bx, by), (bx + length * math.sin(ang), by - length * math.cos(ang)), fw))
        ang = math.radians(-62 + jitter(6))
        fingers.append(Capsule((-0.42, 0.05), (-0.42 + 0.62 * math.sin(ang), 0.05 - 0.62 * math.cos(ang)), fw * 1.1))
    elif label == 2:  # scissors: index and middle in a V, the rest folded
        for (bx, by), ang, length in zip(bases[1:3], (-16, 16), (0.95, 1.0)):
            ang = math.radians(ang + jitter(4))
            length *= 1 + jitter(0.06)
            fingers.append(Capsule((bx, by), (bx + length * math.sin(ang), by - length * math.cos(ang)), fw))
        for bx, by in (bases[0], bases[3]):
            fingers.append(Capsule((bx, by + 0.05), (bx, by - 0.1), fw))
        fingers.append(Capsule((-0.45, 0.1), (0.05, -0.05), fw * 1.15))
    else:  # rock: knuckles on top, thumb across the front
        for bx, by in bases:
            fingers.append(Capsule((bx * 1.05, by + 0.1), (bx * 1.05, by - 0.06), fw * 1.05))
        fingers.append(Capsule((-0.48, 0.12), (0.22, -0.02), fw * 1.2))
    return palm, fingers


def _transform(points: list[Point], cx: float, cy: float, scale: float, angle: float) -> list[Point]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + scale * (c * x - s * y), cy + scale * (s * x + c * y)) for x, y in points]


def _draw_hand(
    draw: ImageDraw.ImageDraw,
    palm: list[Point],
    fingers: list[Capsule],
    cx: float,
    cy: float,
    scale: float,
    angle: float,
    fill,
    outline,
    outline_px: int,
) -> None:
    """Draw the palm and fingers; each part gets a darker rim first so fingers stay visibly separate."""
    parts: list[tuple[str, object, float]] = [("poly", _transform(palm, cx, cy, scale, angle), 0.0)]
    for cap in fingers:
        a, b = _transform([cap.a, cap.b], cx, cy, scale, angle)
        parts.append(("cap", (a, b), cap.width * scale))
    for kind, geom, width in parts:
        for colour, grow in ((outline, outline_px), (fill, 0)):
            if kind == "poly":
                draw.polygon(geom, fill=colour, outline=colour, width=max(1, grow) if grow else 1)
            else:
                (ax, ay), (bx, by) = geom
                r = width / 2 + grow
                draw.line([(ax, ay), (bx, by)], fill=colour, width=max(1, int(round(2 * r))))
                for px, py in ((ax, ay), (bx, by)):
                    draw.ellipse([px - r, py - r, px + r, py + r], fill=colour)


def hand_mask(
    width: int, height: int, palm: list[Point], fingers: list[Capsule], cx: float, cy: float, scale: float, angle: float
) -> Image.Image:
    """The pixels one hand covers at this pose (mode L, 255 inside); its getbbox() is the tight box."""
    mask_img = Image.new("L", (width, height), 0)
    _draw_hand(ImageDraw.Draw(mask_img), palm, fingers, cx, cy, scale, angle, 255, 255, 1)
    return mask_img


def skin_colours(rng: np.random.Generator, tint: float = 0.0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A hand's fill and its darker rim; `tint` > 0 shifts each channel by that relative std beyond the palette."""
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.85, 1.1) + rng.normal(0, 6, 3)
    if tint:
        tone = tone * (1 + rng.normal(0, tint, 3))
    fill = tuple(int(v) for v in tone.clip(0, 255))
    outline = tuple(int(v) for v in (tone * rng.uniform(0.55, 0.75)).clip(0, 255))
    return fill, outline


def paint_hand(
    img: Image.Image,
    mask_img: Image.Image,
    palm: list[Point],
    fingers: list[Capsule],
    cx: float,
    cy: float,
    scale: float,
    angle: float,
    fill,
    outline,
    theta: float,
) -> None:
    """Paste the hand of `mask_img` onto `img`, shaded along direction `theta` so it is not a flat sticker."""
    width, height = img.size
    layer = Image.new("RGB", (width, height), fill)
    _draw_hand(ImageDraw.Draw(layer), palm, fingers, cx, cy, scale, angle, fill, outline, 1)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float64)
    ramp = ((gx - cx) * math.cos(theta) + (gy - cy) * math.sin(theta)) / max(1.0, 2 * scale)
    shaded = np.asarray(layer, dtype=np.float64) * (1.0 + 0.25 * np.clip(ramp, -1, 1))[..., None]
    img.paste(Image.fromarray(shaded.clip(0, 255).astype(np.uint8)), (0, 0), mask_img)


def background(rng: np.random.Generator, width: int, height: int, style: SceneStyle = SceneStyle()) -> Image.Image:
    """A textured gradient, floor / wall tiles or an out-of-focus room, then clutter (some skin-coloured)."""
    kind = (
        style.backgrounds[int(rng.integers(len(style.backgrounds)))]
        if len(style.backgrounds) > 1
        else style.backgrounds[0]
    )
    img = {"clutter": _textured_gradient, "tiles": _tiles, "bokeh": _bokeh}[kind](rng, width, height)
    _clutter(rng, img, style.clutter)
    return img


def _textured_gradient(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Gradient + multi-scale noise texture."""
    c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    t = np.linspace(0, 1, width)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, height)[:, None, None]
    base = c0 * (1 - t) + c1 * t
    base = np.broadcast_to(base, (height, width, 3)).copy()
    for cell in (4, 16, 48):
        small = rng.normal(0, 1, (max(1, height // cell), max(1, width // cell), 3))
        noise = (
            np.asarray(
                Image.fromarray(((small * 40 + 128).clip(0, 255)).astype(np.uint8)).resize(
                    (width, height), Image.BICUBIC
                ),
                dtype=np.float64,
            )
            - 128
        )
        base += noise * rng.uniform(0.2, 0.6)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def _tiles(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A tiled floor or wall seen at an angle: jittered tile colours, darker grout lines."""
    base = rng.uniform(40, 220, 3)
    tile = rng.uniform(12, 48)
    img = Image.new("RGB", (width * 2, height * 2))
    draw = ImageDraw.Draw(img)
    for y in np.arange(0, height * 2, tile):
        for x in np.arange(0, width * 2, tile):
            colour = tuple(int(v) for v in (base * rng.uniform(0.85, 1.15)).clip(0, 255))
            draw.rectangle([x, y, x + tile, y + tile], fill=colour, outline=tuple(int(v) for v in base * 0.5))
    img = img.rotate(float(rng.uniform(-30, 30)), resample=Image.BILINEAR)
    return img.crop((width // 2, height // 2, width // 2 + width, height // 2 + height))


def _bokeh(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """An out-of-focus room: large soft blobs of colour and a few bright discs."""
    img = Image.new("RGB", (width, height), tuple(int(v) for v in rng.uniform(20, 200, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 16))):
        r = rng.uniform(0.05, 0.35) * min(width, height)
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        bright = rng.random() < 0.3
        colour = rng.uniform(180, 255, 3) if bright else rng.uniform(0, 230, 3)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in colour))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(4, 12)))


def _clutter(rng: np.random.Generator, img: Image.Image, count: tuple[int, int]) -> None:
    """Random rectangles, ellipses and lines over the background, 15 % of them skin-coloured distractors."""
    width, height = img.size
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(*count))):
        if rng.random() < 0.15:
            tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.8, 1.1)
            colour = tuple(int(v) for v in tone.clip(0, 255))
        else:
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.35) * width, rng.uniform(0.05, 0.35) * height
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.line([(x0, y0), (x0 + w, y0 + h)], fill=colour, width=int(rng.integers(2, 8)))


def _iou(a: tuple, b: tuple) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def render_scene(
    rng: np.random.Generator,
    width: int,
    height: int,
    n_hands: int,
    max_overlap: float = 0.3,
    style: SceneStyle = SceneStyle(),
) -> tuple[Image.Image, list[DrawnHand]]:
    """One image with `n_hands` hands; returns the image and each hand's tight box and pixel mask."""
    img = background(rng, width, height, style)
    short = min(width, height)
    # Single hands fill a good part of the frame; several hands must share it, so they are smaller.
    size_range = style.single_hand_scale if n_hands == 1 else style.multi_hand_scale
    hands: list[DrawnHand] = []
    for _ in range(n_hands):
        label = int(rng.integers(len(CLASS_NAMES)))
        palm, fingers = hand_shape(label, rng)
        for _attempt in range(30):
            scale = rng.uniform(*size_range) * short / 2.0  # palm width in px; a hand spans ~2 palm widths
            angle = math.radians(
                rng.uniform(-style.max_rotation, style.max_rotation) + (180 if rng.random() < 0.1 else 0)
            )
            cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.9) * height
            mask_img = hand_mask(width, height, palm, fingers, cx, cy, scale, angle)
            box = mask_img.getbbox()
            if box is None:
                continue
            clipped = box[0] == 0 or box[1] == 0 or box[2] == width or box[3] == height
            if not clipped and all(_iou(box, h.box) <= max_overlap for h in hands):
                break
        else:
            continue  # could not place this hand without heavy overlap or clipping; the scene has one fewer
        fill, outline = skin_colours(rng, style.tone_tint)
        paint_hand(img, mask_img, palm, fingers, cx, cy, scale, angle, fill, outline, rng.uniform(0, 2 * math.pi))
        hands.append(DrawnHand(label, box, np.asarray(mask_img) > 0))
    return _camera(rng, _lighting(rng, img, style), style), hands


def _lighting(rng: np.random.Generator, img: Image.Image, style: SceneStyle) -> Image.Image:
    """Global exposure, a light gradient, sensor noise and occasional defocus."""
    arr = np.asarray(img, dtype=np.float64)
    h, w = arr.shape[:2]
    gain = rng.uniform(*style.exposure)
    gy, gx = np.mgrid[0:h, 0:w]
    theta = rng.uniform(0, 2 * math.pi)
    ramp = (gx / w - 0.5) * math.cos(theta) + (gy / h - 0.5) * math.sin(theta)
    arr = arr * gain * (1 + rng.uniform(0, 0.5) * ramp)[..., None] + rng.normal(
        0, rng.uniform(*style.sensor_noise), arr.shape
    )
    out = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
    if rng.random() < style.gaussian_blur:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.6)))
    return out


def _camera(rng: np.random.Generator, img: Image.Image, style: SceneStyle) -> Image.Image:
    """Camera-like effects (albumentations, seeded from `rng`): motion blur, defocus, sensor noise, colour
    temperature, a light spot, gamma. Pixel-level only: the hands' boxes do not move."""
    if not any(style.camera.values()):
        return img
    camera = _camera_pipeline(tuple(sorted(style.camera.items())))
    camera.set_random_seed(int(rng.integers(2**31)))
    return Image.fromarray(camera(image=np.asarray(img))["image"])


@functools.lru_cache(maxsize=4)
def _camera_pipeline(probabilities: tuple[tuple[str, float], ...]):
    import albumentations as A  # only the styled (pretraining) sources pay for the import

    p = dict(probabilities)
    return A.Compose(
        [
            A.MotionBlur(blur_limit=(3, 9), p=p.get("motion_blur", 0.0)),
            A.Defocus(radius=(1, 3), alias_blur=(0.1, 0.3), p=p.get("defocus", 0.0)),
            A.ISONoise(color_shift=(0.01, 0.05), intensity=(0.1, 0.5), p=p.get("iso_noise", 0.0)),
            A.PlanckianJitter(p=p.get("colour_temperature", 0.0)),
            A.Illumination(intensity_range=(0.05, 0.2), p=p.get("light_spot", 0.0)),
            A.RandomGamma(gamma_limit=(70, 150), p=p.get("gamma", 0.0)),
        ]
    )


def hand_counts(count: int, multi_fraction: float, max_hands: int, seed: int) -> list[int]:
    """Hands per image: exactly round(count * multi_fraction) images get 2..max_hands hands, the rest one."""
    rng = np.random.default_rng([seed, 0xC0FFEE])
    n_multi = int(round(count * multi_fraction))
    multi = set(rng.permutation(count)[:n_multi].tolist())
    return [int(rng.integers(2, max_hands + 1)) if i in multi else 1 for i in range(count)]


def write_source(
    out_dir: Path,
    *,
    prefix: str,
    count: int,
    multi_fraction: float,
    seed: int,
    width: int = 320,
    height: int = 240,
    max_hands: int = 4,
    style: SceneStyle = SceneStyle(),
) -> dict:
    """Write `count` images as a VOC source (JPEGImages/ + Annotations/); deterministic for `seed`."""
    out_dir = Path(out_dir)
    (out_dir / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (out_dir / "Annotations").mkdir(parents=True, exist_ok=True)
    stats = {"images": 0, "hands": 0, "multi_hand_images": 0, "per_class": dict.fromkeys(CLASS_NAMES, 0)}
    for i, n in enumerate(hand_counts(count, multi_fraction, max_hands, seed)):
        rng = np.random.default_rng([seed, i])
        img, hands = render_scene(rng, width, height, n, style=style)
        name = f"{prefix}_{i:05d}"
        low, high = style.jpeg_quality
        quality = int(rng.integers(low, high + 1)) if high > low else low  # the demo's fixed 90 draws nothing
        img.save(out_dir / "JPEGImages" / f"{name}.jpg", quality=quality)
        objects = [VocObject(CLASS_NAMES[h.label], tuple(float(v) for v in h.box)) for h in hands]
        write_voc(out_dir / "Annotations" / f"{name}.xml", VocRecord(f"{name}.jpg", width, height, 3, objects))
        stats["images"] += 1
        stats["hands"] += len(hands)
        stats["multi_hand_images"] += len(hands) > 1
        for h in hands:
            stats["per_class"][CLASS_NAMES[h.label]] += 1
    return stats
