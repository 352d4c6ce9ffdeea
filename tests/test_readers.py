"""Readers for VOC, COCO and YOLO: the same dataset in each format validates to the same boxes, formats are
detected, and bad files become findings."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from rpsdet.data.coco import read_coco
from rpsdet.data.formats import detect_format
from rpsdet.data.formats.base import list_files
from rpsdet.data.formats.voc import read_voc
from rpsdet.data.synth import write_source
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source

NAMES = ["rock", "paper", "scissors"]


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voc") / "voc"
    write_source(root, prefix="v", count=6, multi_fraction=0.5, seed=2, width=160, height=120)
    return root


def to_coco(voc: Path, out: Path) -> None:
    (out / "images").mkdir(parents=True)
    images, anns = [], []
    for i, xml in enumerate(sorted((voc / "Annotations").glob("*.xml"))):
        rec = read_voc(xml)
        (out / "images" / rec.filename).write_bytes((voc / "JPEGImages" / rec.filename).read_bytes())
        images.append({"id": i, "file_name": rec.filename, "width": rec.width, "height": rec.height})
        for o in rec.objects:
            x1, y1, x2, y2 = o.box
            anns.append(
                {
                    "id": len(anns),
                    "image_id": i,
                    "category_id": NAMES.index(o.name) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                }
            )
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]
    (out / "annotations").mkdir()
    (out / "annotations" / "instances.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": cats})
    )


def to_yolo(voc: Path, out: Path) -> None:
    for sub in ("images/train", "labels/train"):
        (out / sub).mkdir(parents=True)
    (out / "data.yaml").write_text("names:\n  0: rock\n  1: paper\n  2: scissors\n")
    for xml in sorted((voc / "Annotations").glob("*.xml")):
        rec = read_voc(xml)
        (out / "images/train" / rec.filename).write_bytes((voc / "JPEGImages" / rec.filename).read_bytes())
        lines = [
            f"{NAMES.index(o.name)} {(o.box[0] + o.box[2]) / 2 / rec.width} "
            f"{(o.box[1] + o.box[3]) / 2 / rec.height} "
            f"{(o.box[2] - o.box[0]) / rec.width} {(o.box[3] - o.box[1]) / rec.height}"
            for o in rec.objects
        ]
        (out / "labels/train" / (Path(rec.filename).stem + ".txt")).write_text("\n".join(lines) + "\n")


def boxes_by_name(out: Path) -> dict:
    return {
        Path(r.file_name).name: sorted((tuple(round(v, 3) for v in b), lab) for b, lab in zip(r.boxes, r.labels))
        for r in read_coco(out / "annotations.json")
    }


def test_the_same_dataset_in_three_formats_validates_to_the_same_boxes(voc, tmp_path):
    to_coco(voc, tmp_path / "coco")
    to_yolo(voc, tmp_path / "yolo")
    results = {}
    for fmt in ("voc", "coco", "yolo"):
        src = voc if fmt == "voc" else tmp_path / fmt
        assert detect_format(src) == fmt
        summary = validate_source(src, tmp_path / f"out_{fmt}")
        assert summary["format"] == fmt and summary["kept_images"] == 6 and summary["checks"] == {}
        results[fmt] = boxes_by_name(tmp_path / f"out_{fmt}")
    assert results["voc"] == results["coco"] == results["yolo"]
    assert (tmp_path / "out_yolo" / "images" / "train").is_dir()  # sub-folders below images/ are kept


def test_yolo_without_class_names_uses_ids_which_aliases_can_map(voc, tmp_path):
    to_yolo(voc, tmp_path / "y")
    (tmp_path / "y" / "data.yaml").unlink()
    (tmp_path / "y" / "labels" / "train" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    summary = validate_source(tmp_path / "y", tmp_path / "o1")
    assert summary["kept_images"] == 0 and summary["checks"]["unknown_class"] == 6
    assert summary["checks"]["missing_class_names"] == 1 and summary["checks"]["annotation_without_image"] == 1
    summary = validate_source(
        tmp_path / "y", tmp_path / "o2", ValidateConfig(aliases={"0": "rock", "1": "paper", "2": "scissors"})
    )
    assert summary["kept_images"] == 6


def test_coco_problems_are_findings(voc, tmp_path):
    to_coco(voc, tmp_path / "c")
    path = tmp_path / "c" / "annotations" / "instances.json"
    data = json.loads(path.read_text())
    data["images"].append({"id": 99, "file_name": "ghost.jpg", "width": 10, "height": 10})
    data["annotations"][0]["bbox"] = "oops"
    data["annotations"].append({"id": 999, "image_id": 12345, "category_id": 1, "bbox": [0, 0, 5, 5]})
    data["annotations"][1]["category_id"] = 42
    path.write_text(json.dumps(data))
    summary = validate_source(tmp_path / "c", tmp_path / "o")
    assert summary["checks"]["annotation_without_image"] == 2
    assert summary["checks"]["object_without_box"] == 1 and summary["checks"]["unknown_class"] == 1
    assert summary["input_images"] == 6 and (tmp_path / "o" / "quarantine" / "annotations" / "instances.json").is_file()


def test_unparseable_coco_json_quarantines_its_images_with_a_reason(voc, tmp_path):
    to_coco(voc, tmp_path / "c")
    (tmp_path / "c" / "annotations" / "instances.json").write_text("{not json")
    summary = validate_source(tmp_path / "c", tmp_path / "o")
    assert summary["quarantined_images"] == 6
    assert summary["checks"] == {"unparseable_annotation": 1, "unlabelled_image": 6}


def test_unknown_layout_is_a_finding_not_a_crash(tmp_path):
    (tmp_path / "s").mkdir()
    Image.new("RGB", (64, 64)).save(tmp_path / "s" / "a.jpg")
    summary = validate_source(tmp_path / "s", tmp_path / "o")
    assert summary["format"] == "unknown" and summary["quarantined_images"] == 1


def test_cli_validates_with_format_detection(voc, tmp_path):
    to_yolo(voc, tmp_path / "y")
    metrics = tmp_path / "m.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rpsdet.cli",
            "validate",
            str(tmp_path / "y"),
            str(tmp_path / "o"),
            "--params",
            str(tmp_path / "none.yaml"),
            "--metrics",
            str(metrics),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "y (yolo): 6 images in, 6 kept" in proc.stdout
    assert json.loads(metrics.read_text())["kept_images"] == 6
    missing = subprocess.run(
        [sys.executable, "-m", "rpsdet.cli", "validate", str(tmp_path / "nope"), str(tmp_path / "o2")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_list_files_matches_rglob(tmp_path):
    """The fast walk sees exactly what rglob + is_file sees: nested files and symlinked files, not the inside of a
    symlinked folder (no loops), not a dangling link."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("top.jpg", "a/x.xml", "a/b/y.JPG", "a/b/.hidden"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "linked_dir").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "linked.jpg").symlink_to(tmp_path / "top.jpg")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "missing.jpg")
    expected = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert list_files(tmp_path) == expected
    assert "linked.jpg" in expected and "a/b/y.JPG" in expected and "dangling.jpg" not in expected


def test_list_files_names_a_folder_it_cannot_list(tmp_path, monkeypatch):
    """rglob skips an unreadable folder, silently losing its images; the walk stops and names it instead.
    (Tests run as root, which reads any folder, so the refusal is injected at os.scandir.)"""
    import os as os_module

    (tmp_path / "locked").mkdir()
    (tmp_path / "a.jpg").write_bytes(b"x")
    real_scandir = os_module.scandir

    def scandir(path):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os_module, "scandir", scandir)
    with pytest.raises(OSError, match=r"cannot list the folder .*locked \(Permission denied\); make it readable"):
        list_files(tmp_path)
