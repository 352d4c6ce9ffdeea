"""The realistic-export fixture looks like a Roboflow YOLOv8 download, and on it `rpsdet import` + the validate
stage with the project's default params keep >= 95 % of the images, report the leakage, account for every image
and leave the export untouched (issue 12, "Done when", validation part)."""

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from rpsdet.data.coco import read_coco
from rpsdet.data.realistic import write_roboflow_export

REPO = Path(__file__).resolve().parents[1]
RF_NAME = re.compile(r"IMG_\d{4}_mp4-\d+_jpg\.rf\.[0-9a-f]{32}\.jpg")


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def video_of(name: str) -> str:
    return name.split("_mp4-")[0]


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("rf") / "hands.v1i.yolov8"
    return root, write_roboflow_export(root, frames=64, seed=3)


def test_the_fixture_looks_like_a_roboflow_yolov8_export(export):
    root, stats = export
    assert yaml.safe_load((root / "data.yaml").read_text())["names"] == ["Paper", "Rock", "Scissors"]
    images = {side: sorted(p.name for p in (root / side / "images").iterdir()) for side in ("train", "valid", "test")}
    assert all(RF_NAME.fullmatch(n) for names in images.values() for n in names)
    assert {side: len(n) for side, n in images.items()} == stats["images"] and min(stats["images"].values()) > 0
    with Image.open(root / "test" / "images" / images["test"][0]) as im:
        assert im.size == (640, 640) and im.format == "JPEG"
    labels = {
        side: [(root / side / "labels" / f"{Path(n).stem}.txt").read_text() for n in names]
        for side, names in images.items()
    }
    background = sum(text == "" for texts in labels.values() for text in texts)
    assert background == stats["background_images"] and 0.3 <= background / sum(stats["images"].values()) <= 0.45
    frames = {side: {n.split("_jpg.rf.")[0] for n in names} for side, names in images.items()}
    assert len(images["train"]) == 3 * len(frames["train"]) + stats["exact_copies"]  # augmented 3x, + re-uploads
    assert {video_of(f) for f in frames["test"]} & {video_of(f) for f in frames["train"]}  # test frames leak


def test_import_and_validate_with_the_defaults_keep_95_percent_and_report_leakage(export, tmp_path):
    root, stats = export
    before = tree_hashes(root)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}

    def run(*cmd: str) -> str:
        proc = subprocess.run([sys.executable, *cmd], cwd=tmp_path, env=env, text=True, capture_output=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    run("-m", "rpsdet.cli", "import", str(root), "--name", "hands")
    imported = tmp_path / "data" / "imports" / "hands"
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["data"]["source"] == "data/imports/hands"
    imported_before = tree_hashes(imported)

    def validate(side: str) -> str:  # as dvc.yaml's cmd runs it, data.source being the import
        return run(
            str(REPO / "stages" / "validate.py"),
            side,
            "data/imports/hands",
            f"data/validated/{side}",
            f"metrics/validation_{side}.json",
        )

    printed = validate("train") + validate("test")

    summaries = {s: json.loads((tmp_path / "metrics" / f"validation_{s}.json").read_text()) for s in ("train", "test")}
    inputs = sum(s["input_images"] for s in summaries.values())
    kept = sum(s["kept_images"] for s in summaries.values())
    assert inputs == sum(stats["images"].values()) and kept / inputs >= 0.95
    for side, summary in summaries.items():  # every image accounted for: one result row, kept or quarantined
        with open(tmp_path / "data" / "validated" / side / "report.csv", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        results = {r["image"]: r for r in rows if r["check"] == "result"}
        on_disk = {str(p.relative_to(imported / side)) for p in (imported / side).rglob("*.jpg")}
        assert set(results) == on_disk
        gone = [r for r in results.values() if r["action"] == "quarantined"]
        assert all(r["detail"] == "exact_duplicate" for r in gone)  # only true exact copies go
        assert all((tmp_path / "data" / "validated" / side / "quarantine" / r["image"]).is_file() for r in gone)
        assert summary["background_images"] >= 0.3 * summary["kept_images"]
    assert summaries["train"]["quarantined_images"] == stats["exact_copies"]

    test = summaries["test"]
    assert test["leakage_images"] > 0 and test["leakage_example"]["reference"].startswith("train/")
    assert f"WARNING: {test['leakage_images']} of {test['input_images']} test images copy a train image" in printed
    flagged = [
        r for r in read_coco(tmp_path / "data" / "validated" / "test" / "annotations.json") if "leakage" in r.flags
    ]
    assert len(flagged) == test["leakage_images"]
    for rec in flagged:
        leak = rec.flags["leakage"]
        assert (imported / "train" / leak["reference"]).is_file() and leak["kind"] in ("exact", "near")
        assert video_of(Path(rec.file_name).name) == video_of(Path(leak["reference"]).name)
    assert tree_hashes(root) == before and tree_hashes(imported) == imported_before  # sources never change


def test_cli_draws_the_fixture(tmp_path, capsys):
    from rpsdet.cli import main

    assert main(["synth", str(tmp_path / "rf"), "--style", "roboflow", "--count", "8", "--seed", "1"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["source_frames"] == 8 and (tmp_path / "rf" / "data.yaml").is_file()
    assert len(list((tmp_path / "rf").rglob("*.jpg"))) == sum(stats["images"].values())
