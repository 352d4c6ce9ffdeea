"""Export a checkpoint as one self-contained detector file: ONNX (any ONNX runtime) or OpenVINO IR.

Why the whole detector and not only the network (as the internal ONNX cache in onnx_backend.py does): a user of
the file needs a runtime and a letterbox resize, nothing else. No effdet, no anchor table, no NMS to port, so no
chance to get yxyx versus xyxy, 1-based classes or the anchor decoding wrong. The graph holds: uint8 RGB ->
normalise -> EfficientDet -> effdet's own top-k, anchor decoding, clipping to the image, per-class NMS (IoU 0.5) and
top-100, traced from the same functions Detector.predict runs -> boxes in the original image's pixels.

Batch size 1: what a device runs, and effdet's per-image post-processing only traces for a fixed batch.
The metadata (class names, input size, letterbox, normalisation, outputs) is written next to the file as JSON and,
for ONNX, also inside it (metadata_props["rpsdet"]), so a user can run it from the file alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from effdet import DetBenchPredict, EfficientDet
from effdet.anchors import clip_boxes_xyxy, decode_box_outputs
from effdet.bench import _post_process
from torch import nn
from torchvision.ops import nms

from rpsdet.model.checkpoint import load_checkpoint
from rpsdet.model.onnx_backend import OPSET
from rpsdet.model.predict import Detection
from rpsdet.model.preprocess import MEAN, STD

FORMATS = ("onnx", "openvino")
NMS_IOU = 0.5  # effdet's generate_detections
INPUTS = ("images", "original_size")
# OpenVINO's CPU plugin computes in bf16 by default where the CPU has bf16 units (this machine's EPYC does): faster,
# but scores move by ~0.005. f32 gives PyTorch's detections (tests/test_export.py); the IR cannot carry this setting.
OPENVINO_EXACT = {"INFERENCE_PRECISION_HINT": "f32"}
OUTPUTS = ("boxes", "scores", "labels")


class DetectorGraph(nn.Module):
    """images uint8 (1, S, S, 3) letterboxed RGB, original_size float32 (1, 2) = (width, height) before the letterbox
    -> boxes (1, 100, 4) xyxy in original pixels, scores (1, 100), labels (1, 100) int64 0-based.

    Rows past the detections, and boxes clipped to nothing, have score 0: keep rows with score > your threshold.
    Equal to Detector.predict(images, min_score): same effdet functions, same clipping before NMS, and the same
    pre-filter (candidates at or below `min_score` never reach NMS: over all 5,000 the graph ran 1.18x as long).
    """

    def __init__(self, model: EfficientDet, image_size: int, min_score: float):
        super().__init__()
        self.min_score = min_score
        bench = DetBenchPredict(model).eval()
        self.model = bench.model
        self.image_size = image_size
        self.num_levels, self.num_classes = bench.num_levels, bench.num_classes
        self.max_detection_points, self.max_det = bench.max_detection_points, bench.max_det_per_image
        self.register_buffer("anchors", bench.anchors.boxes.clone(), persistent=False)
        # albumentations' Normalize: (pixel - mean * 255) / (std * 255)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255.0, persistent=False)

    def forward(self, images: torch.Tensor, original_size: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        class_out, box_out = self.model(x)
        cls, box, indices, classes = _post_process(
            class_out,
            box_out,
            num_levels=self.num_levels,
            num_classes=self.num_classes,
            max_detection_points=self.max_detection_points,
        )
        scores, classes = cls[0].sigmoid().squeeze(1).float(), classes[0]
        boxes = decode_box_outputs(box[0].float(), self.anchors[indices[0]], output_xyxy=True)
        size = original_size[0]
        scale = self.image_size / size.max()  # letterbox: input pixel = original pixel * scale
        boxes = clip_boxes_xyxy(boxes, size * scale)
        # Per-class NMS as torchvision's batched_nms does it: shift each class's boxes apart, then one NMS.
        shifted = boxes + classes[:, None].float() * (boxes.max() + 1)
        keep = _NmsAboveScore.apply(shifted, scores, self.min_score, self.max_det)
        boxes, scores, classes = boxes[keep] / scale, scores[keep], classes[keep]
        scores = scores * ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).float()
        pad = self.max_det  # fixed-size outputs: pad with zeros, then cut (trace-safe, no data-dependent branch)
        boxes = torch.cat([boxes, boxes.new_zeros(pad, 4)])[:pad]
        scores = torch.cat([scores, scores.new_zeros(pad)])[:pad]
        labels = torch.cat([classes, classes.new_zeros(pad)])[:pad]
        return boxes[None], scores[None], labels[None]


class _NmsAboveScore(torch.autograd.Function):
    """The first `max_out` boxes NMS keeps (IoU > 0.5 suppresses), best first, among those scoring above `min_score`:
    Detector's pre-filter, then effdet's top-100 (greedy NMS selects in score order, so stopping at 100 is exact).

    Exported as one ONNX NonMaxSuppression whose score_threshold input does the filtering, so every shape before
    it stays static (OpenVINO 2026.4 miscomputed, then crashed on, a data-dependent candidate count before NMS).
    """

    @staticmethod
    def forward(ctx: Any, boxes: torch.Tensor, scores: torch.Tensor, min_score: float, max_out: int) -> torch.Tensor:
        above = torch.nonzero(scores > min_score).squeeze(1)
        return above[nms(boxes[above], scores[above], NMS_IOU)][:max_out]

    @staticmethod
    def symbolic(g: Any, boxes: Any, scores: Any, min_score: float, max_out: int) -> Any:
        def const(value: list, dtype: torch.dtype) -> Any:
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        selected = g.op(
            "NonMaxSuppression",
            g.op("Unsqueeze", boxes, const([0], torch.int64)),
            g.op("Unsqueeze", scores, const([0, 1], torch.int64)),
            const([max_out], torch.int64),
            const([NMS_IOU], torch.float32),
            const([min_score], torch.float32),
        )
        column = g.op("Gather", selected, const([2], torch.int64), axis_i=1)  # (batch, class, box) -> box
        return g.op("Squeeze", column, const([1], torch.int64))


@dataclass
class ExportResult:
    path: Path  # model.onnx, or model.xml (+ model.bin) for OpenVINO
    metadata_path: Path
    metadata: dict[str, Any]

    @property
    def files(self) -> list[Path]:
        extra = [self.path.with_suffix(".bin")] if self.path.suffix == ".xml" else []
        return [self.path, *extra, self.metadata_path]


def export_metadata(cfg: dict[str, Any], fmt: str, source: str, min_score: float) -> dict[str, Any]:
    """Everything needed to feed the file and read its outputs, without rpsdet."""
    size = int(cfg["image_size"])
    return {
        "format": fmt,
        "source": source,
        "arch": cfg["arch"],
        "class_names": list(cfg["class_names"]),
        "input_size": size,
        "inputs": {
            "images": {"shape": [1, size, size, 3], "dtype": "uint8", "layout": "NHWC", "colour": "RGB"},
            "original_size": {"shape": [1, 2], "dtype": "float32", "meaning": "(width, height) before the letterbox"},
        },
        "letterbox": {
            "scale": f"s = {size} / max(width, height)",
            "resize": "(round(width * s), round(height * s)), bilinear (OpenCV INTER_LINEAR)",
            "pad": "bottom and right with 0 to a square",
        },
        "normalisation": {
            "inside_graph": True,
            "mean": list(MEAN),
            "std": list(STD),
            "formula": "(pixel / 255 - mean) / std",
        },
        "outputs": {
            "boxes": "(1, 100, 4) float32 x1, y1, x2, y2 in original image pixels",
            "scores": "(1, 100) float32; rows past the detections are 0",
            "labels": "(1, 100) int64, 0-based index into class_names",
        },
        "post_processing": {
            "inside_graph": True,
            "min_score": min_score,
            "nms_iou": NMS_IOU,
            "max_detections": 100,
            "keep": "rows with score > your threshold (rpsdet's default 0.4)",
        },
        **({"openvino_compile_config": OPENVINO_EXACT} if fmt == "openvino" else {}),
    }


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """The letterbox the graph expects (bit-identical to rpsdet's albumentations transform): (1, S, S, 3) uint8."""
    import cv2

    height, width = rgb.shape[:2]
    s = size / max(width, height)
    resized = cv2.resize(rgb, (round(width * s), round(height * s)), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas[None]


class ExportedModel:
    """An exported file run in its own runtime, as a device runs it: ONNX Runtime for .onnx, OpenVINO for .xml.

    For benchmarks and tests; a user without rpsdet runs the same few lines (README, "Predict and export").
    """

    def __init__(self, path: Path, threads: int, openvino_config: dict[str, str] | None = None):
        self.path = Path(path)
        self.metadata = json.loads(self.path.with_suffix(".json").read_text())
        self.size = int(self.metadata["input_size"])
        if self.path.suffix == ".onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self._run = lambda feeds: session.run(list(OUTPUTS), feeds)
        else:
            import openvino as ov

            config = {**OPENVINO_EXACT, "INFERENCE_NUM_THREADS": threads, **(openvino_config or {})}
            compiled = ov.Core().compile_model(str(self.path), "CPU", config)
            self._run = lambda feeds: [compiled(feeds)[name] for name in OUTPUTS]

    def predict(self, rgb: np.ndarray, conf: float) -> list[Detection]:
        """rgb: HxWx3 uint8 of any size; detections scoring above `conf`, boxes in its pixels."""
        boxes, scores, labels = self._run(
            {"images": letterbox(rgb, self.size), "original_size": np.array([[rgb.shape[1], rgb.shape[0]]], np.float32)}
        )
        return [
            Detection(tuple(float(v) for v in b), float(s), int(c))
            for b, s, c in zip(boxes[0], scores[0], labels[0])
            if s > conf
        ]


def _export_onnx(graph: DetectorGraph, path: Path, metadata: dict[str, Any]) -> None:
    import onnx

    size = graph.image_size
    example = (torch.zeros(1, size, size, 3, dtype=torch.uint8), torch.tensor([[size, size]], dtype=torch.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is chatty about tracing and deprecation
        torch.onnx.export(
            graph,
            example,
            str(path),
            opset_version=OPSET,
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamo=False,
        )
    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, {"rpsdet": json.dumps(metadata)})
    onnx.save(proto, str(path))


def _onnx_to_openvino(onnx_path: Path, xml_path: Path) -> None:
    """OpenVINO's C++ ONNX reader (ov.Core.read_model), not ov.convert_model: the latter sends usage telemetry
    by default. Weights stay fp32 so detections match PyTorch's."""
    import openvino as ov

    ov.save_model(ov.Core().read_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)


def export_checkpoint(
    checkpoint: Path, out: Path, fmt: str, min_score: float = 0.05, source: str | None = None
) -> ExportResult:
    """Write `out` (model.onnx, or model.xml + model.bin) and `<out stem>.json`; files appear complete or not at all."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 0.0 <= min_score < 1.0:
        raise ValueError(f"min_score must be in [0, 1), got {min_score}")
    out = Path(out)
    suffix = ".onnx" if fmt == "onnx" else ".xml"
    if out.suffix != suffix:
        raise ValueError(f"{out}: --format {fmt} writes a {suffix} file")
    model, cfg, _ = load_checkpoint(checkpoint)
    graph = DetectorGraph(model.eval(), int(cfg["image_size"]), min_score).eval()
    metadata = export_metadata(cfg, fmt, source or str(checkpoint), min_score)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".export-") as tmp:
        built = Path(tmp) / f"{out.stem}.onnx"
        _export_onnx(graph, built, metadata)
        if fmt == "openvino":
            _onnx_to_openvino(built, Path(tmp) / out.name)
            shutil.move(Path(tmp) / out.with_suffix(".bin").name, out.with_suffix(".bin"))
            built = Path(tmp) / out.name
        shutil.move(built, out)
    meta_path = out.with_suffix(".json")
    meta_path.write_text(json.dumps(metadata, indent=1) + "\n")
    return ExportResult(out, meta_path, metadata)
