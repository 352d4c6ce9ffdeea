"""Linear warmup then cosine decay to the end of the run (measured: decay to the end, or scores swing).

The end of the run is a step count (train.epochs) or a time budget (train.max_minutes, `TimeBudget`).
"""

from __future__ import annotations

import math


def cosine(progress: float, min_ratio: float) -> float:
    """Multiplier from 1 (progress 0) down to `min_ratio` (progress 1 and after)."""
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, progress))))


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float = 0.02) -> float:
    """Multiplier on the base learning rate at `step` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    return cosine((step - warmup_steps) / max(1, total_steps - warmup_steps), min_ratio)


class TimeBudget:
    """train.max_minutes: training ends when `seconds` of training time are spent, with the lr at its floor.

    Training time is what the loop spends in steps and data loading (the `train_seconds` it reports); the
    evaluations on val come on top, as they do with an epoch count.

    Design: the cosine follows the clock itself, the fraction of the budget spent, instead of a step count
    estimated from measured step times and re-estimated as they drift. Nothing is estimated, so the lr reaches
    its floor exactly when the budget runs out however the step time changes (a busy shared machine, workers
    warming up), and resuming needs only the seconds already spent (stored in the training state). The price:
    the number of steps depends on the machine's speed, so two budgeted runs of one config differ; an epoch
    count stays the reproducible choice. Warmup still counts steps (train.warmup_steps): the multiplier is the
    lower of the warmup ramp and the cosine, so it is continuous where they meet.
    """

    def __init__(self, minutes: float, warmup_steps: int, min_ratio: float, spent_s: float = 0.0):
        if minutes <= 0:
            raise ValueError(f"a time budget needs minutes > 0, got {minutes!r}")
        self.seconds = 60.0 * minutes
        self.warmup_steps = warmup_steps
        self.min_ratio = min_ratio
        self.spent_s = spent_s  # training seconds so far, this run and any run it resumes; the loop updates it

    @property
    def exhausted(self) -> bool:
        return self.spent_s >= self.seconds

    @property
    def left_s(self) -> float:
        return max(0.0, self.seconds - self.spent_s)

    def lr_factor(self, step: int) -> float:
        """Multiplier on the base learning rate for `step` (0-based), at the time spent so far."""
        ramp = (step + 1) / self.warmup_steps if self.warmup_steps > 0 else 1.0
        return min(ramp, cosine(self.spent_s / self.seconds, self.min_ratio))
