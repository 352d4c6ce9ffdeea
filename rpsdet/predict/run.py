"""Run a detector over images and videos; write what it saw where a person and a program can both use it.

Outputs in one folder: images/ and videos/ with boxes drawn, results.json (COCO results: image_id, category_id,
bbox [x, y, w, h], score) and summary.csv (one row per image or video frame, plus one per skipped input).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from rpsdet.evaluate.coco_metrics import detections_to_coco
from rpsdet.files import write_json
from rpsdet.model.predict import Detection, Detector
from rpsdet.predict.draw import draw_detections
from rpsdet.predict.sources import Input, Skipped, Unreadable, Video, read_image


@dataclass
class PredictReport:
    out: Path
    conf: float
    class_names: list[str]
    images: int = 0
    videos: int = 0
    frames: int = 0
    seconds: float = 0.0
    per_class: Counter = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)

    def summary_line(self) -> str:
        found = sum(self.per_class.values())
        classes = ", ".join(f"{n} {self.per_class[i]}" for i, n in enumerate(self.class_names))
        rate = (self.images + self.frames) / self.seconds if self.seconds else 0.0
        return (
            f"{_count(self.images, 'image')}, {_count(self.videos, 'video')} ({self.frames} frames) in "
            f"{self.seconds:.1f} s ({rate:.1f} images/s): {_count(found, 'detection')} ({classes}) at conf "
            f"{self.conf}; {len(self.skipped)} skipped; written to {self.out}/"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class _Outputs:
    """Collects COCO results and summary rows as predictions arrive; writes the two files at the end."""

    def __init__(self, out: Path, report: PredictReport):
        self.out, self.report = out, report
        self.results: list[dict] = []
        self.rows: list[dict] = []
        self.predicted = 0  # image ids run 1..N over predicted images and frames, in input order

    def add(
        self, source: Path, frame: int | None, shape: tuple[int, ...], detections: list[Detection], output: str
    ) -> None:
        self.predicted += 1
        image_id = self.predicted
        self.results.extend(detections_to_coco(image_id, detections))
        counts = Counter(d.label for d in detections)
        self.report.per_class.update(counts)
        self.rows.append(
            {
                "image_id": image_id,
                "source": str(source),
                "frame": "" if frame is None else frame,
                "width": shape[1],
                "height": shape[0],
                "status": "ok",
                "detections": len(detections),
                **{n: counts[i] for i, n in enumerate(self.report.class_names)},
                "max_score": round(max((d.score for d in detections), default=0.0), 4),
                "output": output,
                "error": "",
            }
        )

    def skip(self, skipped: Skipped) -> None:
        self.report.skipped.append(skipped)
        self.rows.append({"image_id": "", "source": skipped.path, "status": "skipped", "error": skipped.reason})

    def write(self) -> None:
        write_json(self.out / "results.json", self.results)
        fields = [
            "image_id",
            "source",
            "frame",
            "width",
            "height",
            "status",
            "detections",
            *self.report.class_names,
            "max_score",
            "output",
            "error",
        ]
        with open(self.out / "summary.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fields, restval="")
            writer.writeheader()
            writer.writerows(self.rows)


def _save_image(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **({"quality": 90} if path.suffix.lower() in (".jpg", ".jpeg") else {}))


def predict_inputs(
    detector: Detector,
    inputs: list[Input],
    skipped: list[Skipped],
    out: Path,
    conf: float,
    batch_size: int = 8,
    progress: bool | None = None,
) -> PredictReport:
    """Predict every input in order; unreadable ones are skipped and listed. progress None = a bar on a TTY only."""
    started = time.perf_counter()
    report = PredictReport(Path(out), conf, detector.class_names)
    outputs = _Outputs(Path(out), report)
    for s in skipped:
        outputs.skip(s)
    bar = tqdm(
        total=sum(i.kind == "image" for i in inputs),
        unit="img",
        dynamic_ncols=True,
        disable=None if progress is None else not progress,
    )
    pending: list[tuple[Input, np.ndarray]] = []

    def flush() -> None:
        for (item, rgb), dets in zip(pending, detector.predict([rgb for _, rgb in pending], conf)):
            name = f"images/{item.name}"
            _save_image(draw_detections(rgb, dets, detector.class_names), Path(out) / name)
            outputs.add(item.path, None, rgb.shape, dets, name)
            report.images += 1
        bar.update(len(pending))
        pending.clear()

    for item in inputs:
        if item.kind == "image":
            try:
                pending.append((item, read_image(item.path)))
            except Unreadable as exc:
                outputs.skip(Skipped(str(item.path), str(exc)))
                bar.update(1)
            if len(pending) >= batch_size:
                flush()
        else:
            flush()
            _predict_video(detector, item, Path(out), conf, batch_size, outputs, bar)
    flush()
    bar.close()
    outputs.write()
    report.seconds = time.perf_counter() - started
    return report


def _predict_video(
    detector: Detector, item: Input, out: Path, conf: float, batch_size: int, outputs: _Outputs, bar: tqdm
) -> None:
    """Frame by frame, batched; writes videos/<name>.mp4 with the boxes drawn (same size and frame rate)."""
    try:
        video = Video(item.path)
    except Unreadable as exc:
        outputs.skip(Skipped(str(item.path), str(exc)))
        return
    name = f"videos/{item.name}" if item.name.lower().endswith(".mp4") else f"videos/{item.name}.mp4"
    bar.total += video.frame_count
    bar.refresh()
    writer: cv2.VideoWriter | None = None
    frames: list[np.ndarray] = []
    index = 0

    def flush() -> None:
        nonlocal writer, index
        for rgb, dets in zip(frames, detector.predict(frames, conf)):
            if writer is None:
                path = out / name
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(
                    str(path), cv2.VideoWriter_fourcc(*"mp4v"), video.fps, (rgb.shape[1], rgb.shape[0])
                )
                if not writer.isOpened():
                    raise OSError(f"OpenCV cannot write {path} (mp4v codec)")
            writer.write(cv2.cvtColor(draw_detections(rgb, dets, detector.class_names), cv2.COLOR_RGB2BGR))
            outputs.add(item.path, index, rgb.shape, dets, name)
            index += 1
        bar.update(len(frames))
        frames.clear()

    try:
        for rgb in video.frames():
            frames.append(rgb)
            if len(frames) >= batch_size:
                flush()
        flush()
    finally:
        video.close()
        if writer is not None:
            writer.release()
    if index == 0:
        outputs.skip(Skipped(str(item.path), "OpenCV opened the video but decoded no frame from it"))
        return
    outputs.report.videos += 1
    outputs.report.frames += index
