"""Device and CPU-thread choice, made on purpose (libraries such as Ray may silently set one thread)."""

from __future__ import annotations

import os

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_threads(threads: int = 0) -> int:
    """0 = every core this process may use."""
    n = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(n)
    return n
