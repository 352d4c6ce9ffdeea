"""A Roboflow "YOLOv8" export as people download it, drawn with the procedural hands of `synth`: the fixture that
tests and benchmarks use for real-export handling, with nothing downloaded.

What the public rock/paper/scissors exports look like, and this draws:
- frames cut from short phone videos (`IMG_0012.mp4`), consecutive frames nearly identical while the hands move;
- every image stretched to 640x640 and named like `IMG_0012_mp4-34_jpg.rf.<32 hex>.jpg`;
- 30-40 % background images (videos with no hand in view), each with an empty label file;
- train/valid/test folders cut frame by frame at random, so test frames come from the same videos as train frames
  (leakage, as in the real export);
- the train folder "augmented 3x": each train frame exported as itself, a mirrored copy and a brighter or darker
  copy (Roboflow's flip and brightness steps), each with its own `.rf.` hash;
- a few exact copies (the same frame uploaded twice), which the validator should remove;
- `data.yaml` with capitalised names in Roboflow's alphabetical order, and Roboflow's README files.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.synth import Capsule, Point, background, hand_mask, hand_shape, paint_hand, skin_colours

NAMES = ["Paper", "Rock", "Scissors"]  # Roboflow lists classes alphabetically, as labelled
SIDES = {"train": 0.7, "valid": 0.2, "test": 0.1}  # share of source frames per folder
MARGIN = 48  # px of background beyond the frame, for the camera to drift over
HAND_STEP = 20.0  # px per frame, at most, a hand moves (frames are ~0.25 s apart)
CAMERA_STEP = 4.0  # px per frame, at most, the hand-held camera drifts
DATA_YAML = """train: ../train/images
val: ../valid/images
test: ../test/images

nc: 3
names: ['Paper', 'Rock', 'Scissors']

roboflow:
  workspace: rpsdet
  project: rock-paper-scissors-hands
  version: 1
  license: CC BY 4.0
"""


@dataclass
class MovingHand:
    """One hand through a video: fixed gesture and skin, a pose that drifts from frame to frame."""

    label: int  # 0-based rpsdet class id
    palm: list[Point]
    fingers: list[Capsule]
    fill: tuple[int, ...]
    outline: tuple[int, ...]
    theta: float  # shading direction
    start: tuple[float, float, float, float]  # cx, cy, scale, angle at frame 0
    step: tuple[float, float, float]  # dx, dy (px per frame), d-angle (radians per frame)

    def pose(self, t: int, width: int, height: int) -> tuple[float, float, float, float]:
        """The pose at frame t; the hand turns back before it leaves the middle of the picture."""
        cx, cy, scale, angle = self.start
        return (
            _bounce(cx + t * self.step[0], 0.25 * width, 0.75 * width),
            _bounce(cy + t * self.step[1], 0.4 * height, 0.65 * height),
            scale,
            angle + t * self.step[2],
        )


def _bounce(x: float, lo: float, hi: float) -> float:
    """x folded into [lo, hi], as a point moving back and forth between two walls."""
    span = hi - lo
    x = (x - lo) % (2 * span)
    return lo + (x if x <= span else 2 * span - x)


@dataclass
class Video:
    name: str  # e.g. IMG_0012
    scene: Image.Image  # the background, a little larger than the frame: a hand-held camera drifts over it
    hands: list[MovingHand]
    gain: float  # the video's exposure
    drift: tuple[float, float]  # camera drift, px per frame

    def view(self, t: int, width: int, height: int) -> Image.Image:
        """What the camera frames at frame t: drifting from the middle, back and forth within the margin."""
        x = round(_bounce((self.scene.width - width) / 2 + t * self.drift[0], 0, self.scene.width - width))
        y = round(_bounce((self.scene.height - height) / 2 + t * self.drift[1], 0, self.scene.height - height))
        return self.scene.crop((x, y, x + width, y + height))


def _video(rng: np.random.Generator, name: str, width: int, height: int, n_hands: int) -> Video:
    scene = background(rng, width + MARGIN, height + MARGIN)
    short = min(width, height)
    size_range = (0.38, 0.55) if n_hands == 1 else (0.22, 0.34)
    hands = []
    for k in range(n_hands):
        label = int(rng.integers(len(CLASS_NAMES)))
        palm, fingers = hand_shape(label, rng)
        fill, outline = skin_colours(rng)
        cx = (k + 0.5) / n_hands * width + rng.uniform(-0.08, 0.08) * width
        start = (
            cx,
            rng.uniform(0.45, 0.6) * height,
            rng.uniform(*size_range) * short / 2.0,
            math.radians(rng.uniform(-30, 30)),
        )
        step = (rng.uniform(-1, 1) * HAND_STEP, rng.uniform(-0.5, 0.5) * HAND_STEP, math.radians(rng.uniform(-4, 4)))
        hands.append(MovingHand(label, palm, fingers, fill, outline, rng.uniform(0, 2 * math.pi), start, step))
    drift = (rng.uniform(-1, 1) * CAMERA_STEP, rng.uniform(-1, 1) * CAMERA_STEP)
    return Video(name, scene, hands, rng.uniform(0.75, 1.2), drift)


def _frame(
    video: Video, t: int, size: tuple[int, int], rng: np.random.Generator
) -> tuple[Image.Image, list[tuple[int, tuple]]]:
    """Frame t of a video (native size) and its (label, xyxy box) pairs."""
    width, height = size
    img = video.view(t, width, height)
    boxes = []
    for hand in video.hands:
        cx, cy, scale, angle = hand.pose(t, width, height)
        mask = hand_mask(width, height, hand.palm, hand.fingers, cx, cy, scale, angle)
        box = mask.getbbox()
        if box is None:  # walked out of the picture
            continue
        paint_hand(img, mask, hand.palm, hand.fingers, cx, cy, scale, angle, hand.fill, hand.outline, hand.theta)
        boxes.append((hand.label, box))
    arr = np.asarray(img, dtype=np.float64) * video.gain * (1 + rng.normal(0, 0.01))
    arr += rng.normal(0, 3.0, arr.shape)  # sensor noise: no two frames are the same bytes
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8)), boxes


def _yolo_lines(boxes: list[tuple[int, tuple]], width: int, height: int, mirrored: bool) -> str:
    lines = []
    for label, (x1, y1, x2, y2) in boxes:
        if mirrored:
            x1, x2 = width - x2, width - x1
        cls = NAMES.index(CLASS_NAMES[label].capitalize())
        lines.append(
            f"{cls} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} "
            f"{(y2 - y1) / height:.6f}"
        )
    return "".join(line + "\n" for line in lines)


def _brightness(img: Image.Image, factor: float) -> Image.Image:
    return Image.fromarray((np.asarray(img, dtype=np.float64) * factor).clip(0, 255).astype(np.uint8))


def _rf_name(stem: str, seed: int, variant: str) -> str:
    digest = hashlib.md5(f"{seed}/{stem}/{variant}".encode()).hexdigest()
    return f"{stem}_jpg.rf.{digest}"


def _write(out: Path, side: str, name: str, img: Image.Image, labels: str, size: int, quality: int) -> None:
    img.resize((size, size), Image.Resampling.BILINEAR).save(out / side / "images" / f"{name}.jpg", quality=quality)
    (out / side / "labels" / f"{name}.txt").write_text(labels)


def write_roboflow_export(
    out: Path,
    *,
    frames: int = 100,
    frames_per_video: int = 8,
    seed: int = 0,
    background_share: float = 0.35,
    exact_copies: int = 2,
    size: int = 640,
    native: tuple[int, int] = (320, 240),
    quality: int = 85,
) -> dict:
    """Write the export to `out` (train/ valid/ test/ with images/ and labels/, data.yaml); deterministic for
    `seed`. `frames` source frames are cut from videos of `frames_per_video`; train frames are written 3x."""
    out = Path(out)
    for side in SIDES:
        (out / side / "images").mkdir(parents=True, exist_ok=True)
        (out / side / "labels").mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(DATA_YAML)
    (out / "README.roboflow.txt").write_text("Exported via roboflow.com (drawn by rpsdet.data.realistic)\n")
    (out / "README.dataset.txt").write_text("# Rock Paper Scissors hands > raw-images\nPhone videos, frames.\n")
    rng = np.random.default_rng([seed, 0x12B0F])
    n_videos = max(1, math.ceil(frames / frames_per_video))
    empty = set(rng.permutation(n_videos)[: round(n_videos * background_share)].tolist())
    ids = rng.choice(np.arange(1000, 10000), size=n_videos, replace=False)
    stats = {
        "source_frames": 0,
        "videos": n_videos,
        "images": dict.fromkeys(SIDES, 0),
        "background_images": 0,
        "boxes": 0,
        "exact_copies": 0,
    }
    copies_left = exact_copies
    for v in range(n_videos):
        n_hands = 0 if v in empty else (2 if rng.random() < 0.25 else 1)
        video = _video(np.random.default_rng([seed, v]), f"IMG_{int(ids[v]):04d}", *native, n_hands)
        frame_rng = np.random.default_rng([seed, v, 1])
        for t in range(min(frames_per_video, frames - stats["source_frames"])):
            img, boxes = _frame(video, t, native, frame_rng)
            side = str(frame_rng.choice(list(SIDES), p=list(SIDES.values())))
            stem = f"{video.name}_mp4-{t * 7 + int(frame_rng.integers(7))}"  # every ~7th frame of the video
            variants = [("plain", img, False)]
            if side == "train":  # Roboflow's "3x" augmentation: a mirrored and a brighter or darker copy
                variants += [
                    ("flip", ImageOps.mirror(img), True),
                    ("brightness", _brightness(img, float(frame_rng.choice([0.75, 1.25]))), False),
                ]
            if copies_left and boxes and side == "train":  # the same frame uploaded twice
                variants.append(("plain-again", img, False))
                copies_left -= 1
                stats["exact_copies"] += 1
            for variant, pixels, mirrored in variants:
                name = _rf_name(stem, seed, variant)
                _write(out, side, name, pixels, _yolo_lines(boxes, *native, mirrored), size, quality)
                stats["images"][side] += 1
                stats["background_images"] += not boxes
                stats["boxes"] += len(boxes)
            stats["source_frames"] += 1
    return stats
