"""Where EfficientDet's CPU time goes: torch.profiler events grouped by kind of work, FLOPs, and the machine's floor.

Used by bench_speed.py. Conv ops are told apart by their weight shape (depthwise k x k with one input channel per
group, pointwise 1 x 1, dense otherwise); loss, anchor matching, post-processing (top-k + NMS) and the optimizer are
marked with record_function ranges and everything below a range is charged to it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

RANGES = {
    "rpsdet::anchor_matching": "loss: anchor matching",
    "rpsdet::loss": "loss: focal + box",
    "rpsdet::post_process": "post-process: top-k + NMS",
    "rpsdet::preprocess": "pre-process: letterbox + normalise",
    "rpsdet::optimizer": "optimizer + EMA + clip",
}


def conv_kind(name: str, shapes: list) -> str:
    weight = shapes[2] if "backward" in name and len(shapes) > 2 else (shapes[1] if len(shapes) > 1 else [])
    if len(weight) != 4:
        return "conv: dense"
    if weight[2] == weight[3] == 1:
        return "conv: pointwise 1x1"
    return "conv: depthwise" if weight[1] == 1 else "conv: dense"


def op_kind(name: str, shapes: list) -> str:
    n = name.lower()
    if "conv" in n:
        return conv_kind(n, shapes)
    if "group_norm" in n or "groupnorm" in n or "batch_norm" in n or "batchnorm" in n:
        return "norm (GroupNorm/BatchNorm)"
    if any(k in n for k in ("silu", "sigmoid", "relu", "swish", "gelu")):
        return "activations"
    if any(k in n for k in ("upsample", "interpolate", "max_pool", "maxpool", "pool2d")):
        return "BiFPN resampling (upsample / max-pool)"
    if any(k in n for k in ("mean", "avg_pool", "adaptive")):
        return "squeeze-excite pooling"
    if any(k in n for k in ("add", "mul", "div", "sub", "cat", "stack", "copy", "clone", "fill", "zero")):
        return "elementwise / copies"
    return "other"


def _ancestor_range(event) -> str | None:
    parent = event
    while parent is not None:
        if parent.name in RANGES:
            return RANGES[parent.name]
        parent = parent.cpu_parent
    return None


def breakdown(fn: Callable[[], None], iterations: int) -> dict[str, float]:
    """ms per iteration of fn by kind of work (self CPU time of the calling thread's ops)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(iterations):
            fn()
    totals: Counter = Counter()
    for event in prof.events():
        if event.name in RANGES:
            continue
        kind = _ancestor_range(event) or op_kind(event.name, event.input_shapes or [])
        totals[kind] += event.self_cpu_time_total / 1000 / iterations
    return {k: round(v, 2) for k, v in totals.most_common()}


def count_flops(fn: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def dense_rate_gflops(threads: int, bursts: int = 15, seconds: float = 0.2) -> dict[str, float]:
    """The machine's achievable fp32 rate on dense work (a 1024^3 matmul, a 3x3 conv with 128 channels): the best
    of short bursts, so a busy shared machine does not lower the ceiling."""
    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).eval()
    x = torch.randn(4, 128, 64, 64)
    rates = {}
    with torch.inference_mode():
        for name, fn, flops in (
            ("matmul_1024", lambda: a @ b, 2 * 1024**3),
            ("conv3x3_128ch", lambda: conv(x), 2 * 4 * 128 * 128 * 9 * 64 * 64),
        ):
            fn()
            best = 0.0
            for _ in range(bursts):
                n, started = 0, time.perf_counter()
                while time.perf_counter() - started < seconds:
                    fn()
                    n += 1
                best = max(best, flops * n / (time.perf_counter() - started))
            rates[name] = round(best / 1e9, 1)
    return rates
