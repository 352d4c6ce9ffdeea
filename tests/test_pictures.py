"""`make pictures` (docs/make_pictures.py) on a finished run's outputs, made here at tiny size: a barely trained
checkpoint, its real evaluation (gallery + PR curves) and the real served phone page."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.evaluate.report import EvalOutputs, evaluate_model
from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.model.predict import Detector

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CLASS_RGB = {"rock": (0xE5, 0x39, 0x35), "paper": (0x1E, 0x88, 0xE5), "scissors": (0x43, 0xA0, 0x47)}


@pytest.fixture(scope="module")
def finished_run(tiny_checkpoint, tiny_splits, tmp_path_factory) -> Path:
    """The files a finished run leaves where the script looks: models/, data/splits/, data/eval/, metrics/."""
    root = tmp_path_factory.mktemp("run")
    (root / "models" / "round2").mkdir(parents=True)
    (root / "models" / "round2" / "model.pt").symlink_to(tiny_checkpoint)
    (root / "data" / "splits").mkdir(parents=True)
    (root / "data" / "splits" / "v1").symlink_to(tiny_splits)
    out = EvalOutputs(
        root / "data/eval/round2",
        root / "metrics/eval_round2.json",
        root / "metrics/slices_round2.json",
        root / "metrics/eval_round2",
    )
    evaluate_model(Detector.from_checkpoint(tiny_checkpoint), tiny_splits / "test.json", out, 0.05, SliceThresholds())
    return root


def test_the_three_pictures_are_drawn_from_the_run_and_stay_small(browser, finished_run, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docs" / "make_pictures.py"),
            "--root",
            str(finished_run),
            "--out",
            str(tmp_path),
            "--score-threshold",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("gallery.png", "pr_curve.png", "phone.png"):
        path = tmp_path / name
        assert 0 < path.stat().st_size <= 150 * 1024, name
        assert f"{path}: " in run.stdout

    phone = Image.open(tmp_path / "phone.png")
    assert phone.size == (360, 640)  # the phone page at 360x640 CSS pixels, device scale 1
    pixels = np.asarray(phone.convert("RGB")).reshape(-1, 3)
    assert sum(int(np.all(np.abs(pixels.astype(int) - c) <= 8, axis=1).sum()) for c in CLASS_RGB.values()) > 200

    pr = np.asarray(Image.open(tmp_path / "pr_curve.png").convert("RGB")).reshape(-1, 3).astype(int)
    for name, colour in CLASS_RGB.items():  # every class has its line in the legend, in the page's colour
        assert np.all(np.abs(pr - colour) <= 8, axis=1).sum() >= 40, name

    gallery = Image.open(tmp_path / "gallery.png").convert("RGB")
    assert gallery.width >= 600 and len(set(gallery.getdata())) > 16  # tiles drawn, not a blank page


def test_an_unfinished_run_gets_one_line_that_says_what_to_do(browser, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docs" / "make_pictures.py"),
            "--root",
            str(tmp_path),
            "--out",
            str(tmp_path / "docs"),
            "--only",
            "gallery",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 2
    assert "gallery/index.html not found: run the pipeline first (dvc repro)" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "docs").exists()
