"""`rpsdet predict` on generated images, a generated video and broken inputs, with a real (briefly trained) model."""

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from rpsdet.cli import main
from rpsdet.data.synth import write_source
from rpsdet.model.predict import Detector
from rpsdet.predict.commands import output_folder
from rpsdet.predict.sources import expand_sources

CONF = 0.02  # low: the tiny model is barely trained, and the outputs must hold detections to check


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six drawn scenes in two sizes, one in a subfolder, plus a truncated JPEG and a stray text file."""
    root = tmp_path_factory.mktemp("photos")
    for i, (w, h) in enumerate(((160, 120), (120, 200))):
        write_source(root / f"src{i}", prefix=f"p{i}", count=3, multi_fraction=0.5, seed=i, width=w, height=h)
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    for p in sorted((root / "src0" / "JPEGImages").iterdir()):
        shutil.copy(p, folder / p.name)
    for p in sorted((root / "src1" / "JPEGImages").iterdir()):
        shutil.copy(p, folder / "sub" / p.name)
    whole = (folder / "p0_00000.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory, photos) -> Path:
    """A 9-frame 160x120 clip written with OpenCV (mp4v): a scene sliding sideways."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    frame = cv2.imread(str(photos / "p0_00001.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(9):
        writer.write(np.roll(frame, 4 * i, axis=1))
    writer.release()
    return path


def read_summary(out: Path) -> list[dict]:
    with open(out / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_predict_writes_drawn_outputs_coco_results_and_a_summary(tiny_checkpoint, photos, video, tmp_path, capsys):
    out = tmp_path / "run"
    (tmp_path / "damaged.mp4").write_bytes(b"\0" * 2048)
    rc = main(
        [
            "predict",
            str(photos),
            str(video),
            str(tmp_path / "damaged.mp4"),
            "--model",
            str(tiny_checkpoint),
            "--conf",
            str(CONF),
            "--out",
            str(out),
            "--params",
            str(tmp_path / "none.yaml"),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 1  # something was skipped: said in the exit code, but everything readable was predicted
    assert "6 images, 1 video (9 frames)" in captured.out and f"written to {out}/" in captured.out
    for name, why in (
        ("broken.jpg", "cannot decode the image"),
        ("notes.txt", "not an image"),
        ("damaged.mp4", "OpenCV cannot open this video"),
    ):
        assert name in captured.err and why in captured.err

    rows = read_summary(out)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 6 + 9 and [int(r["image_id"]) for r in ok] == list(range(1, 16))
    skipped = {Path(r["source"]).name: r["error"] for r in rows if r["status"] == "skipped"}
    assert set(skipped) == {"broken.jpg", "notes.txt", "damaged.mp4"} and all(skipped.values())

    # Every predicted image's row and results are the detector's own output on that image, drawn on a copy.
    detector = Detector.from_checkpoint(tiny_checkpoint)
    results = json.loads((out / "results.json").read_text())
    by_id = {}
    for r in results:
        by_id.setdefault(r["image_id"], []).append(r)
    for row in (r for r in ok if not r["frame"]):
        source = Path(row["source"])
        rgb = np.asarray(Image.open(source).convert("RGB"))
        expected = detector.predict([rgb], CONF)[0]
        got = by_id.get(int(row["image_id"]), [])
        assert len(got) == len(expected) == int(row["detections"]) > 0
        assert sorted(r["score"] for r in got) == pytest.approx(sorted(d.score for d in expected), abs=1e-4)
        drawn = np.asarray(Image.open(out / row["output"]))
        assert drawn.shape == rgb.shape and (int(row["width"]), int(row["height"])) == (rgb.shape[1], rgb.shape[0])
        assert np.abs(drawn.astype(int) - rgb).max() > 100  # boxes were drawn
    assert (out / "images" / "sub" / "p1_00000.jpg").is_file()
    assert source.read_bytes() == (photos / source.relative_to(photos)).read_bytes()

    # The video comes back with the same frame count, size and a detection row per frame.
    capture = cv2.VideoCapture(str(out / "videos" / "clip.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 9 and capture.get(cv2.CAP_PROP_FRAME_WIDTH) == 160
    assert sorted(int(r["frame"]) for r in ok if r["frame"]) == list(range(9))

    # results.json is a COCO results file: pycocotools loads it against a ground truth with the same image ids.
    gt = COCO()
    gt.dataset = {
        "images": [{"id": int(r["image_id"]), "width": int(r["width"]), "height": int(r["height"])} for r in ok],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(detector.class_names)],
        "annotations": [],
    }
    gt.createIndex()
    assert (
        len(gt.loadRes(str(out / "results.json")).getAnnIds()) == len(results) == sum(int(r["detections"]) for r in ok)
    )


def test_sources_are_files_folders_and_globs_with_unique_output_names(photos):
    inputs, skipped = expand_sources(
        [
            str(photos / "p0_00000.jpg"),
            str(photos / "sub" / "*.jpg"),
            str(photos / "sub" / "p1_00000.jpg"),
            str(photos / "none_*.png"),
        ]
    )
    assert [i.name for i in inputs] == [
        "p0_00000.jpg",
        "p1_00000.jpg",
        "p1_00001.jpg",
        "p1_00002.jpg",
        "p1_00000-2.jpg",
    ]
    assert all(i.kind == "image" for i in inputs)
    assert [(Path(s.path).name, s.reason) for s in skipped] == [("none_*.png", "the pattern matches no file")]


def test_nothing_to_predict_is_one_clear_error(tmp_path, capsys):
    assert (
        main(
            [
                "predict",
                str(tmp_path / "missing.jpg"),
                "--model",
                str(tmp_path / "model.pt"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "nothing to predict" in err and "missing.jpg: no such file or folder" in err
    assert not (tmp_path / "o").exists()


def test_output_folder_is_never_one_holding_files(photos, tmp_path):
    with pytest.raises(ValueError, match="exists and is not empty"):
        output_folder(str(photos), tmp_path / "unused")  # would write drawn copies over the photos
    default = tmp_path / "predict_runs" / "model@v0.1.0"
    assert output_folder(None, default) == default
    default.mkdir(parents=True)
    assert output_folder(None, default) == default  # empty: reused
    (default / "summary.csv").write_text("")
    assert output_folder(None, default) == default.with_name("model@v0.1.0-2")
