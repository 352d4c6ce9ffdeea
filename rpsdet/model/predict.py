"""Run a trained detector on RGB images and get boxes back in each image's own pixels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from effdet import DetBenchPredict, EfficientDet
from effdet.anchors import generate_detections
from effdet.bench import _batch_detection, _post_process
from torch.profiler import record_function

from rpsdet.model.checkpoint import load_checkpoint
from rpsdet.model.preprocess import inference_transform
from rpsdet.model.speed import use_channels_last

BACKENDS = ("auto", "torch", "onnx")
# auto picks ONNX Runtime up to this input size: faster at 256 px (1.4x at batch 1), while at 512 px channels_last
# PyTorch is ~1.1x faster (bench/bench_speed.py, 2 cores).
ONNX_MAX_SIZE = 384
log = logging.getLogger(__name__)
Network = Callable[[torch.Tensor], tuple[list[torch.Tensor], list[torch.Tensor]]]


@dataclass
class Detection:
    box: tuple[float, float, float, float]  # xyxy, original image pixels
    score: float
    label: int  # 0-based


class Detector:
    """Letterbox, forward, un-letterbox. Build from a checkpoint file or a model in memory.

    `net` swaps the network (e.g. an ONNX Runtime session, see onnx_backend.py); anchor decoding, top-k and NMS
    always run effdet's own PyTorch code, so every backend post-processes identically.
    """

    def __init__(
        self,
        model: EfficientDet,
        image_size: int,
        class_names: list[str],
        device: str = "cpu",
        net: Network | None = None,
        backend: str = "torch",
    ):
        self.bench = DetBenchPredict(model).eval().to(device)
        self.net: Network = self.bench.model if net is None else net
        self.backend = backend
        self.image_size = image_size
        self.class_names = list(class_names)
        self.device = device
        self._transform = inference_transform(image_size)

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "cpu", backend: str = "auto") -> Detector:
        """backend: torch, onnx, or auto = ONNX Runtime on CPU up to ONNX_MAX_SIZE px when it imports and exports a
        matching network, else PyTorch (channels_last on CPU)."""
        model, cfg, _ = load_checkpoint(path)
        name, net = _network(model, cfg["image_size"], Path(path), str(device), backend)
        if net is None:
            use_channels_last(model, device)  # this model is ours alone: faster PyTorch inference on CPU
        return cls(model, cfg["image_size"], cfg["class_names"], device, net, name)

    def _forward(
        self, x: torch.Tensor, img_scale: torch.Tensor, img_size: torch.Tensor, score_threshold: float = 0.0
    ) -> torch.Tensor:
        """DetBenchPredict.forward with a swappable network (named profiler ranges: bench/bench_speed.py).

        With score_threshold > 0, NMS only sees the top-k candidates scoring above it. The detections above the
        threshold are exactly effdet's: NMS keeps boxes in descending score order and a box is only suppressed by
        a higher-scoring one, so a candidate below the threshold never changes the fate of one above it. NMS over
        all 5,000 candidates is most of the post-processing time (bench/bench_speed.py).
        """
        b = self.bench
        class_out, box_out = self.net(x)
        with record_function("rpsdet::post_process"):
            class_out, box_out, indices, classes = _post_process(
                class_out,
                box_out,
                num_levels=b.num_levels,
                num_classes=b.num_classes,
                max_detection_points=b.max_detection_points,
            )
            if score_threshold <= 0 or b.soft_nms:  # soft-NMS rescoring: keep effdet's path as it is
                return _batch_detection(
                    x.shape[0],
                    class_out,
                    box_out,
                    b.anchors.boxes,
                    indices,
                    classes,
                    img_scale,
                    img_size,
                    max_det_per_image=b.max_det_per_image,
                    soft_nms=b.soft_nms,
                )
            detections = []
            for i in range(x.shape[0]):
                keep = class_out[i, :, 0].sigmoid().float() > score_threshold  # generate_detections' own score
                detections.append(
                    generate_detections(
                        class_out[i][keep],
                        box_out[i][keep],
                        b.anchors.boxes,
                        indices[i][keep],
                        classes[i][keep],
                        img_scale[i],
                        img_size[i],
                        max_det_per_image=b.max_det_per_image,
                    )
                )
            return torch.stack(detections)

    @torch.inference_mode()
    def predict(self, images: list[np.ndarray], score_threshold: float = 0.0) -> list[list[Detection]]:
        """images: HxWx3 uint8 RGB arrays of any size. Boxes are clipped to each image."""
        if not images:
            return []
        with record_function("rpsdet::preprocess"):
            batch = torch.stack(
                [torch.from_numpy(self._transform(image=im)["image"]).permute(2, 0, 1) for im in images]
            )
        scales = [min(self.image_size / im.shape[1], self.image_size / im.shape[0]) for im in images]
        img_scale = torch.tensor([1.0 / s for s in scales], dtype=torch.float32, device=self.device)
        img_size = torch.tensor([[im.shape[1], im.shape[0]] for im in images], dtype=torch.float32, device=self.device)
        out = self._forward(batch.to(self.device), img_scale, img_size, score_threshold).cpu().numpy()
        results = []
        for rows in out:
            dets = [
                Detection(tuple(float(v) for v in r[:4]), float(r[4]), int(r[5]) - 1)
                for r in rows
                if r[4] > max(score_threshold, 0.0) and r[2] > r[0] and r[3] > r[1]
            ]
            results.append(dets)
        return results


def _network(
    model: EfficientDet, image_size: int, checkpoint: Path, device: str, backend: str
) -> tuple[str, Network | None]:
    """(backend name, network or None for PyTorch). `auto` falls back to PyTorch and logs why."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch", None
    if not device.startswith("cpu"):
        if backend == "onnx":
            raise ValueError(f"the onnx backend runs on CPU only, not on {device}")
        log.info("inference backend: torch (device %s; ONNX Runtime is used on CPU only)", device)
        return "torch", None
    if backend == "auto" and image_size > ONNX_MAX_SIZE:
        log.info(
            "inference backend: torch (%d px > %d: channels_last PyTorch is faster there)", image_size, ONNX_MAX_SIZE
        )
        return "torch", None
    try:
        from rpsdet.model.onnx_backend import OnnxNet, cached_export

        net = OnnxNet(cached_export(model, image_size, checkpoint), torch.get_num_threads())
    except Exception as exc:  # ImportError, an export the installed torch cannot do, a mismatch
        if backend == "onnx":
            raise
        log.warning("inference backend: torch (ONNX Runtime unavailable: %s: %s)", type(exc).__name__, exc)
        return "torch", None
    log.info("inference backend: onnx (%s)", net.path)
    return "onnx", net
