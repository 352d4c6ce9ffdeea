"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import os
import platform

import torch


def machine_info() -> dict:
    return {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": platform.processor() or platform.machine(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
