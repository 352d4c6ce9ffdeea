"""The inference backends and training-step variants that bench_speed.py times side by side.

Each builder returns a ready callable plus its one-off cost (export / compile seconds), so the table can show both.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from effdet import DetBenchTrain, EfficientDet
from timm.utils import ModelEmaV3
from torch import nn
from torch.profiler import record_function

from rpsdet.classes import CLASS_NAMES
from rpsdet.model.factory import build_effdet
from rpsdet.model.onnx_backend import OnnxNet, export_onnx
from rpsdet.model.predict import Detector
from rpsdet.model.targets import to_effdet_targets

CL = torch.channels_last


def channels_last_net(model: EfficientDet) -> Callable:
    model = copy.deepcopy(model).to(memory_format=CL)
    return lambda x: model(x.contiguous(memory_format=CL))


def traced_net(model: EfficientDet, image_size: int) -> Callable:
    """torch.jit.trace + freeze (constant-folds weights, fuses conv + bias); traced at batch 2, shapes stay free."""
    x = torch.randn(2, 3, image_size, image_size)
    with torch.inference_mode():
        return torch.jit.freeze(torch.jit.trace(copy.deepcopy(model).eval(), x, check_trace=False))


def compiled_net(model: EfficientDet) -> Callable:
    return torch.compile(copy.deepcopy(model).eval(), dynamic=False)


def onnx_net(model: EfficientDet, image_size: int, threads: int, workdir: Path) -> Callable:
    return OnnxNet(export_onnx(model, image_size, workdir / f"net_{image_size}.onnx"), threads)


def inference_detectors(
    model: EfficientDet, image_size: int, threads: int, workdir: Path, compile_: bool
) -> dict[str, tuple[Detector, float]]:
    """name -> (Detector sharing effdet's post-processing, seconds to build its network)."""
    builders: dict[str, Callable[[], Callable | None]] = {
        "torch eager": lambda: None,
        "torch channels_last": lambda: channels_last_net(model),
        "torch jit trace+freeze": lambda: traced_net(model, image_size),
        "onnxruntime": lambda: onnx_net(model, image_size, threads, workdir),
    }
    if compile_:
        builders["torch.compile (inductor)"] = lambda: compiled_net(model)
    out = {}
    for name, build in builders.items():
        started = time.perf_counter()
        out[name] = (
            Detector(model, image_size, list(CLASS_NAMES), net=build(), backend=name),
            time.perf_counter() - started,
        )
    return out


class _Ranged(nn.Module):
    """Runs a module inside a named profiler range (so its ops are charged to it)."""

    def __init__(self, name: str, inner: nn.Module):
        super().__init__()
        self.name, self.inner = name, inner

    def forward(self, *args):
        with record_function(self.name):
            return self.inner(*args)


def instrument(bench: DetBenchTrain) -> DetBenchTrain:
    """Mark anchor matching and the loss with profiler ranges; the maths is unchanged."""
    label = bench.anchor_labeler.batch_label_anchors

    def ranged_label(*args, **kwargs):
        with record_function("rpsdet::anchor_matching"):
            return label(*args, **kwargs)

    bench.anchor_labeler.batch_label_anchors = ranged_label
    bench.loss_fn = _Ranged("rpsdet::loss", bench.loss_fn)
    return bench


def train_step(
    image_size: int, norm: str = "group", channels_last: bool = False, compile_: bool = False, seed: int = 0
) -> Callable[[torch.Tensor, list, list], torch.Tensor]:
    """One step of rpsdet/train/loop.py: forward (DetBenchTrain), backward, clip, AdamW, EMA. Returns the loss."""
    torch.manual_seed(seed)
    model = build_effdet("efficientdet_d0", image_size, len(CLASS_NAMES), norm)
    if channels_last:
        model = model.to(memory_format=CL)
    bench = instrument(DetBenchTrain(model).train())
    if compile_:
        bench.model = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    ema = ModelEmaV3(model, decay=0.998, use_warmup=True)
    state = {"step": 0}

    def step(images: torch.Tensor, boxes: list, labels: list) -> torch.Tensor:
        if channels_last:
            images = images.contiguous(memory_format=CL)
        out = bench(images, to_effdet_targets(boxes, labels, image_size))
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        with record_function("rpsdet::optimizer"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            state["step"] += 1
            ema.update(model, step=state["step"])
        return out["loss"].detach()

    return step


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="rpsdet-bench-speed-"))
