"""Progress output: a bar only on a terminal, and always exactly one summary line per step."""

import fcntl
import io
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from rpsdet.data.synth import write_source
from rpsdet.progress import progress

SUMMARY = re.compile(r"^(?P<desc>.+): (?P<done>\d+) (?P<unit>\w+?)s? in \d+\.\d s( \([\d.]+ \w+/s\))?$")


def test_off_a_terminal_there_is_no_bar_and_one_summary_line():
    stream = io.StringIO()  # isatty() is False, as for a CI log or a DVC stage under a pipe
    with progress("decode", total=5, stream=stream) as bar:
        for _ in range(5):
            bar.update()
    text = stream.getvalue()
    assert "\r" not in text and "|" not in text
    lines = text.splitlines()
    assert len(lines) == 1 and SUMMARY.match(lines[0])["done"] == "5" and lines[0].startswith("decode: 5 images in ")


def test_on_a_terminal_the_bar_is_drawn_then_replaced_by_the_summary_line():
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    with os.fdopen(follower, "w") as tty:
        assert tty.isatty()
        with progress("copy", total=3, unit="file", stream=tty) as bar:
            for _ in range(3):
                bar.update()
    drawn = b""
    while True:  # everything written, until the closed terminal reads as EIO
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    text = drawn.decode()
    assert "\rcopy:   0%|" in text and "0/3" in text  # tqdm's bar, drawn in place
    assert text.rstrip().split("\r")[-1].lstrip("\n").startswith("copy: 3 files in ")


def test_a_step_that_fails_says_how_far_it_got():
    stream = io.StringIO()
    try:
        with progress("export voc", total=10, stream=stream) as bar:
            bar.update(4)
            raise OSError("disk full")
    except OSError:
        pass
    assert stream.getvalue() == "export voc: stopped after 4 of 10 images\n"


def test_silent_prints_nothing():
    stream = io.StringIO()
    with progress("nested", total=2, stream=stream, silent=True) as bar:
        bar.update(2)
    assert stream.getvalue() == ""


def test_a_real_validation_run_under_a_pipe_prints_one_line_for_its_decode_step(tmp_path):
    """The validator's process pool (more than 16 images, 2 workers) reports once, with every image counted."""
    write_source(tmp_path / "src", prefix="src", count=20, multi_fraction=0.2, seed=3, width=96, height=72)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpsdet.cli",
            "validate",
            str(tmp_path / "src"),
            str(tmp_path / "out"),
            "--params",
            str(tmp_path / "none.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr
    steps = [m for m in map(SUMMARY.match, run.stderr.splitlines()) if m]
    assert [(m["desc"], m["done"]) for m in steps] == [("validate src", "20")]
    assert "20 images in" in run.stdout  # the validator's own table is unchanged, on stdout
