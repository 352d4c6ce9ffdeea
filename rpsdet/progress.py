"""Progress bars for long steps, decided in one place.

A bar is drawn only when the stream is a terminal: CI logs and DVC stages run under a pipe stay short. Whatever the
stream, each step ends with one summary line ("validate test: 202 images in 3.1 s (65 images/s)"), so a log still
says what ran and how long it took.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm


def summary_line(desc: str, done: int, unit: str, seconds: float) -> str:
    """'desc: N units in S s (R units/s)'; no rate when the step took no measurable time."""
    per_s = done / seconds if seconds >= 0.05 else 0.0
    rate = f" ({per_s:.1f} {unit}s/s)" if 0 < per_s < 10 else f" ({per_s:.0f} {unit}s/s)" if per_s else ""
    return f"{desc}: {done} {unit if done == 1 else unit + 's'} in {seconds:.1f} s{rate}"


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether progress bars should be drawn on `stream` (stderr by default): only when it is a terminal."""
    stream = stream or sys.stderr
    return hasattr(stream, "isatty") and stream.isatty()


class Progress:
    """Counts completed work and moves the bar, if there is one (a disabled tqdm counts nothing itself)."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        self.bar.update(n)


@contextmanager
def progress(
    desc: str, total: int, unit: str = "image", stream: TextIO | None = None, silent: bool = False
) -> Iterator[Progress]:
    """A tqdm bar on a terminal, none otherwise; `update(n)` it as work completes. On exit, bar or not, one summary
    line goes to the same stream (stderr by default, so stdout stays clean for JSON output). `silent`: neither bar
    nor line, for a step nested in another that reports itself."""
    stream = stream or sys.stderr
    draw = not silent and on_terminal(stream)
    started = time.perf_counter()
    state = Progress(
        tqdm(
            total=total,
            desc=desc,
            unit=unit,
            file=stream,
            disable=not draw,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.5,
        )
    )
    finished = False
    try:
        yield state
        finished = True
    finally:
        state.bar.close()
        if not silent:
            line = (
                summary_line(desc, state.done, unit, time.perf_counter() - started)
                if finished
                else f"{desc}: stopped after {state.done} of {total} {unit}s"
            )
            print(line, file=stream, flush=True)
