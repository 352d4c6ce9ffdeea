"""CPU speed-ups that keep the maths: NHWC (channels_last) weights for EfficientDet's convolutions."""

from __future__ import annotations

import torch
from torch import nn


def use_channels_last(model: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """Store conv weights NHWC, in place, on CPU only (where it was measured).

    Why: oneDNN runs EfficientDet's depthwise / pointwise convolutions and GroupNorm faster in NHWC: a quicker
    training step and faster inference at 256 px on 2 cores (measured in bench/bench_speed.py). Activations
    follow the weights' format, so inputs need no conversion; results differ only by float rounding (first-step loss
    equal to 5e-7). Checkpoints stay loadable either way (load_state_dict copies into whatever format the model has).
    """
    if torch.device(device).type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model
