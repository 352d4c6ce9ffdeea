"""`rpsdet import` / `rpsdet export`: exports shaped exactly as the labeling tools write them are copied untouched
into train/ and test/, validate to the pixel, and export -> import round-trips to the pixel in every format."""

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.classes import CLASS_NAMES
from rpsdet.cli import main
from rpsdet.data.coco import read_coco
from rpsdet.data.exporter import export_dataset
from rpsdet.data.importer import hash_side, import_export
from rpsdet.data.split import write_splits
from rpsdet.params import set_param
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.run import validate_source

W, H = 96, 80
# image stem -> boxes as (raw class index, x1, y1, x2, y2): 0-based pixel edges, x2/y2 exclusive
TRUTH = {
    f"img{i:02d}": [(i % 3, 4 + i, 6, 40 + i, 50)] + ([((i + 1) % 3, 50, 10 + i, 90, 70)] if i % 2 else [])
    for i in range(12)
}
ROBOFLOW = {
    "train": [f"img{i:02d}" for i in range(7)],
    "valid": ["img07", "img08"],
    "test": ["img09", "img10", "img11"],
}
PARAMS = """# knobs
classes:
  aliases:
    Rock: rock   # capitalized
data:
  # where the sources come from
  source: data/raw/synthetic   # default
split:
  version: v1
"""


def draw(path: Path, stem: str) -> None:
    """A distinct blocky image per stem (survives JPEG, never a near-duplicate of another)."""
    rng = np.random.default_rng(int(stem[3:]))
    blocks = rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(blocks.repeat(8, 0).repeat(8, 1)).save(path, quality=95)


def yolo_line(cls: int, x1: int, y1: int, x2: int, y2: int) -> str:
    return f"{cls} {(x1 + x2) / 2 / W:.6f} {(y1 + y2) / 2 / H:.6f} {(x2 - x1) / W:.6f} {(y2 - y1) / H:.6f}"


def voc_xml(stem: str, names: list[str]) -> str:
    objects = "".join(
        f"<object><name>{names[c]}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax>"
        f"<ymax>{y2}</ymax></bndbox></object>"
        for c, x1, y1, x2, y2 in TRUTH[stem]
    )
    return (
        f"<annotation><folder>JPEGImages</folder><filename>{stem}.jpg</filename><size><width>{W}</width>"
        f"<height>{H}</height><depth>3</depth></size><segmented>0</segmented>{objects}</annotation>"
    )


def coco_json(stems: list[str], names: list[str], category_offset: int) -> dict:
    """Roboflow style: category 0 is the dataset's supercategory; classes start at 1."""
    cats = [{"id": 0, "name": "hands", "supercategory": "none"}] if category_offset else []
    cats += [{"id": i + category_offset, "name": n, "supercategory": "hands"} for i, n in enumerate(names)]
    images = [
        {
            "id": k,
            "license": 1,
            "file_name": f"{s}.jpg",
            "height": H,
            "width": W,
            "date_captured": "2026-01-01T00:00:00+00:00",
        }
        for k, s in enumerate(stems)
    ]
    boxes = [(k, box) for k, s in enumerate(stems) for box in TRUTH[s]]
    anns = [
        {
            "id": n,
            "image_id": k,
            "category_id": c + category_offset,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "area": (x2 - x1) * (y2 - y1),
            "segmentation": [],
            "iscrowd": 0,
        }
        for n, (k, (c, x1, y1, x2, y2)) in enumerate(boxes)
    ]
    return {
        "info": {"description": "exported"},
        "licenses": [{"id": 1, "name": "CC BY 4.0"}],
        "categories": cats,
        "images": images,
        "annotations": anns,
    }


def roboflow_yolo(root: Path, names) -> Path:
    """Roboflow 'YOLOv8' download: data.yaml + README files + train/valid/test each with images/ and labels/."""
    listed = names if isinstance(names, list) else [names[k] for k in sorted(names)]
    yaml_names = (
        f"[{', '.join(repr(n) for n in names)}]"
        if isinstance(names, list)
        else "\n" + "".join(f"  {k}: {v}\n" for k, v in names.items())
    )
    (root).mkdir(parents=True)
    (root / "data.yaml").write_text(
        f"train: ../train/images\nval: ../valid/images\ntest: ../test/images\n\n"
        f"nc: {len(listed)}\nnames: {yaml_names}\n",
        encoding="utf-8",
    )
    (root / "README.roboflow.txt").write_text("Exported via roboflow.com\n")
    (root / "README.dataset.txt").write_text("# Hands\n")
    for split, stems in ROBOFLOW.items():
        for s in stems:
            draw(root / split / "images" / f"{s}.jpg", s)
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            (root / split / "labels" / f"{s}.txt").write_text("\n".join(yolo_line(*b) for b in TRUTH[s]) + "\n")
    return root


def ultralytics_yolo(root: Path) -> Path:
    """Ultralytics' own dataset layout: images/{train,val,test} mirrored by labels/, names in data.yaml."""
    root.mkdir(parents=True)
    (root / "data.yaml").write_text(
        "path: ../datasets/hands\ntrain: images/train\nval: images/val\n"
        "test: images/test\nnames:\n  0: rock\n  1: paper\n  2: scissors\n"
    )
    for split, stems in ROBOFLOW.items():
        folder = "val" if split == "valid" else split
        for s in stems:
            draw(root / "images" / folder / f"{s}.jpg", s)
            (root / "labels" / folder).mkdir(parents=True, exist_ok=True)
            (root / "labels" / folder / f"{s}.txt").write_text("\n".join(yolo_line(*b) for b in TRUTH[s]) + "\n")
    return root


def roboflow_coco(root: Path, names: list[str]) -> Path:
    """Roboflow 'COCO' download: train/valid/test each with the images and _annotations.coco.json."""
    for split, stems in ROBOFLOW.items():
        for s in stems:
            draw(root / split / f"{s}.jpg", s)
        (root / split / "_annotations.coco.json").write_text(json.dumps(coco_json(stems, names, 1)))
    (root / "README.roboflow.txt").write_text("Exported via roboflow.com\n")
    return root


def cvat_voc(root: Path, names: list[str]) -> Path:
    """CVAT 'Pascal VOC 1.1' / LabelImg: Annotations/*.xml (1-based pixels) + JPEGImages/, one folder."""
    for s in TRUTH:
        draw(root / "JPEGImages" / f"{s}.jpg", s)
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{s}.xml").write_text(voc_xml(s, names), encoding="utf-8")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "default.txt").write_text("\n".join(TRUTH) + "\n")
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nrock:250,50,83::\n")
    return root


def cvat_coco(root: Path, names: list[str]) -> Path:
    """CVAT 'COCO 1.0': annotations/instances_default.json + images/, one folder, categories from 1."""
    for s in TRUTH:
        draw(root / "images" / f"{s}.jpg", s)
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(coco_json(list(TRUTH), names, 1)))
    return root


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def validated_boxes(dest: Path, tmp: Path, aliases: dict) -> dict[str, dict]:
    """Validate both imported sides; image stem -> {"side", "boxes": sorted (class, x1, y1, x2, y2)}."""
    found = {}
    for side in ("train", "test"):
        summary = validate_source(dest / side, tmp / "validated" / side, ValidateConfig(aliases=aliases), side)
        assert summary["quarantined_images"] == 0, summary
        for rec in read_coco(tmp / "validated" / side / "annotations.json"):
            boxes = sorted((CLASS_NAMES[label], *box) for box, label in zip(rec.boxes, rec.labels))
            found[Path(rec.file_name).stem] = {"side": side, "boxes": boxes}
    return found


def truth_boxes(names: list[str]) -> dict[str, list]:
    to_class = {"Rock": "rock", "石头": "rock", "Paper": "paper", "Scissors": "scissors"}
    return {
        s: sorted((to_class.get(names[c], names[c]), x1, y1, x2, y2) for c, x1, y1, x2, y2 in boxes)
        for s, boxes in TRUTH.items()
    }


def assert_pixel_equal(found: dict[str, dict], names: list[str]) -> None:
    truth = truth_boxes(names)
    assert set(found) == set(truth)
    for stem, want in truth.items():
        got = found[stem]["boxes"]
        assert [b[0] for b in got] == [b[0] for b in want], stem
        assert np.allclose([b[1:] for b in got], [b[1:] for b in want], atol=0.01), (stem, got, want)


ROBOFLOW_NAMES = ["Paper", "Rock", "Scissors"]  # Roboflow sorts class names alphabetically


@pytest.mark.parametrize("names", [ROBOFLOW_NAMES, {0: "石头", 1: "paper", 2: "scissors"}], ids=["list", "dict"])
def test_roboflow_yolo_keeps_its_split_and_validates_to_the_pixel(tmp_path, names):
    src = roboflow_yolo(tmp_path / "export", names)
    before = tree_hashes(src)
    plan, notes = import_export(src, tmp_path / "imports" / "rf")
    dest = tmp_path / "imports" / "rf"
    assert tree_hashes(src) == before and notes == []
    assert plan.format == "yolo" and plan.left_out == ["README.dataset.txt", "README.roboflow.txt"]
    assert {Path(i).stem for i in plan.images["train"]} == set(ROBOFLOW["train"] + ROBOFLOW["valid"])
    assert {Path(i).stem for i in plan.images["test"]} == set(ROBOFLOW["test"])
    for side in ("train", "test"):  # copied byte for byte, names file on both sides
        assert (dest / side / "data.yaml").read_bytes() == (src / "data.yaml").read_bytes()
        for rel, digest in tree_hashes(dest / side).items():
            assert before[rel] == digest
    listed = names if isinstance(names, list) else [names[k] for k in sorted(names)]
    found = validated_boxes(dest, tmp_path, {"Rock": "rock", "Paper": "paper", "Scissors": "scissors"})
    assert_pixel_equal(found, listed)
    assert {s for s, f in found.items() if f["side"] == "test"} == set(ROBOFLOW["test"])


def test_ultralytics_images_split_folders_keep_their_split(tmp_path):
    src = ultralytics_yolo(tmp_path / "export")
    plan, _ = import_export(src, tmp_path / "imports" / "u")
    assert {Path(i).stem for i in plan.images["test"]} == set(ROBOFLOW["test"]) and plan.left_out == []
    found = validated_boxes(tmp_path / "imports" / "u", tmp_path, {})
    assert_pixel_equal(found, ["rock", "paper", "scissors"])
    assert {s for s, f in found.items() if f["side"] == "test"} == set(ROBOFLOW["test"])


def test_roboflow_coco_merges_train_and_valid_into_one_json_per_side(tmp_path):
    src = roboflow_coco(tmp_path / "export", ROBOFLOW_NAMES)
    before = tree_hashes(src)
    plan, _ = import_export(src, tmp_path / "imports" / "rc")
    dest = tmp_path / "imports" / "rc"
    assert tree_hashes(src) == before and plan.format == "coco"
    train = json.loads((dest / "train" / "_annotations.coco.json").read_text())
    assert sorted(i["file_name"] for i in train["images"]) == sorted(
        f"{split}/{s}.jpg" for split in ("train", "valid") for s in ROBOFLOW[split]
    )
    assert train["info"] == {"description": "exported"} and {"license", "date_captured"} <= set(train["images"][0])
    assert len({a["id"] for a in train["annotations"]}) == len(train["annotations"])  # merged ids never collide
    found = validated_boxes(dest, tmp_path, {"Rock": "rock", "Paper": "paper", "Scissors": "scissors"})
    assert_pixel_equal(found, ROBOFLOW_NAMES)
    assert {s for s, f in found.items() if f["side"] == "test"} == set(ROBOFLOW["test"])


@pytest.mark.parametrize("make", [cvat_voc, cvat_coco], ids=["voc", "coco"])
def test_a_single_folder_export_is_cut_by_path_hash_with_its_annotations(tmp_path, make):
    src = make(tmp_path / "export", ["rock", "paper", "scissors"])
    before = tree_hashes(src)
    plan, _ = import_export(src, tmp_path / "imports" / "one", test_ratio=0.3)
    dest = tmp_path / "imports" / "one"
    assert tree_hashes(src) == before
    image_dir = "JPEGImages" if make is cvat_voc else "images"
    expected = {s: hash_side(f"{image_dir}/{s}.jpg", 0.3) for s in TRUTH}
    assert 0 < list(expected.values()).count("test") < len(TRUTH)
    for side in ("train", "test"):
        assert {Path(i).stem for i in plan.images[side]} == {s for s, v in expected.items() if v == side}
    if make is cvat_voc:  # each XML travels with its image; tool metadata the reader does not use stays behind
        assert {p.stem for p in (dest / "test" / "Annotations").glob("*.xml")} == {
            s for s, v in expected.items() if v == "test"
        }
        assert plan.left_out == ["ImageSets/Main/default.txt", "labelmap.txt"]
    else:  # one subset JSON per side
        test_json = json.loads((dest / "test" / "_annotations.coco.json").read_text())
        assert {Path(i["file_name"]).stem for i in test_json["images"]} == {
            s for s, v in expected.items() if v == "test"
        }
    found = validated_boxes(dest, tmp_path, {})
    assert_pixel_equal(found, ["rock", "paper", "scissors"])
    assert {s: f["side"] for s, f in found.items()} == expected


@pytest.fixture(scope="module")
def canonical(tmp_path_factory) -> Path:
    """A validated dataset (VOC in, canonical COCO out) and a split file that references it from elsewhere."""
    root = tmp_path_factory.mktemp("canonical")
    cvat_voc(root / "src", ["rock", "paper", "scissors"])
    validate_source(root / "src", root / "validated" / "all", ValidateConfig())
    write_splits(root / "validated" / "all", root / "validated" / "all", root / "splits", 0.5, seed=0)
    return root


@pytest.mark.parametrize("fmt", ["voc", "coco", "yolo"])
@pytest.mark.parametrize("dataset", ["validated/all", "splits/test.json"])
def test_export_then_import_round_trips_to_the_pixel(canonical, tmp_path, fmt, dataset):
    summary = export_dataset(canonical / dataset, tmp_path / "out", fmt, root=canonical)  # splits point up
    records = read_coco(canonical / "validated" / "all" / "annotations.json")
    assert summary["images"] == len(records) and summary["boxes"] == sum(len(r.boxes) for r in records)
    import_export(tmp_path / "out", tmp_path / "imports" / "back", fmt="auto")
    found = validated_boxes(tmp_path / "imports" / "back", tmp_path, {})
    assert_pixel_equal(found, ["rock", "paper", "scissors"])


def test_yolo_export_is_what_ultralytics_reads(canonical, tmp_path):
    export_dataset(canonical / "validated" / "all", tmp_path / "out", "yolo")
    assert (tmp_path / "out" / "data.yaml").read_text().splitlines()[-1] == "names: [rock, paper, scissors]"
    label = (tmp_path / "out" / "labels" / "img00.txt").read_text().split()
    assert label == ["0", f"{22 / W:.6f}", f"{28 / H:.6f}", f"{36 / W:.6f}", f"{44 / H:.6f}"]


def test_voc_export_writes_one_based_inclusive_integers(canonical, tmp_path):
    export_dataset(canonical / "validated" / "all", tmp_path / "out", "voc")
    xml = (tmp_path / "out" / "Annotations" / "img00.xml").read_text()
    assert "<xmin>5</xmin>" in xml and "<ymin>7</ymin>" in xml and "<xmax>40</xmax>" in xml and "<ymax>50</ymax>" in xml


def test_cli_import_sets_data_source_with_a_one_line_edit(tmp_path, monkeypatch, capsys):
    src = roboflow_yolo(tmp_path / "export", ROBOFLOW_NAMES)
    work = tmp_path / "project"
    work.mkdir()
    (work / "params.yaml").write_text(PARAMS, encoding="utf-8")
    monkeypatch.chdir(work)
    assert main(["import", str(src), "--name", "hands"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"'Rock'\s+-> rock", out) and "images: train 9, test 3" in out and "dvc repro" in out
    assert "'Paper'" in out and "unknown class" not in out
    assert "train@round1 starts from random weights (train.pretrained: none)" in out  # PARAMS names no start
    assert (work / "params.yaml").read_text() == PARAMS.replace(
        "source: data/raw/synthetic   # default", "source: data/imports/hands   # default"
    )
    assert (work / "data" / "imports" / ".gitignore").read_text() == "/hands\n"
    assert main(["import", str(src), "--name", "hands"]) == 2  # exists
    assert "--force" in capsys.readouterr().err
    assert main(["import", str(src), "--name", "hands", "--force"]) == 0
    assert (work / "data" / "imports" / ".gitignore").read_text() == "/hands\n"


def test_cli_import_says_round_1_fine_tunes_the_synthetic_pretraining(tmp_path, monkeypatch, capsys):
    """With the project's params.yaml, the "next:" lines name where training on the import starts."""
    src = roboflow_yolo(tmp_path / "export", ROBOFLOW_NAMES)
    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(src), "--name", "hands"]) == 0
    next_lines = capsys.readouterr().out.split("next:\n", 1)[1]
    assert "train@round1 fine-tunes the synthetic pretraining (train.pretrained: synthetic" in next_lines
    assert "models/pretrain/model.pt" in next_lines


def test_cli_import_names_unknown_classes_and_how_to_map_them(tmp_path, monkeypatch, capsys):
    src = roboflow_yolo(tmp_path / "export", ["thumbs", "paper", "scissors"])
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(src), "--name", "x", "--params", "none.yaml"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"'thumbs'\s+-> UNKNOWN", out) and "classes.aliases" in out and "none.yaml not found" in out


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "is not a folder"),
        ("no_images", "no images"),
        ("no_labels", "no YOLO annotation files"),
        ("unknown", "found no VOC XML, YOLO labels or COCO JSON"),
        ("bad_json", "not valid JSON"),
        ("bad_name", "--name"),
        ("ratio", "--test-ratio"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_code_2(tmp_path, monkeypatch, capsys, case, message):
    src = tmp_path / "export"
    args = ["--name", "x"]
    if case == "no_images":
        (src / "Annotations").mkdir(parents=True)
        (src / "Annotations" / "a.xml").write_text(voc_xml("img00", ["rock", "paper", "scissors"]))
    elif case in ("no_labels", "unknown"):
        for s in TRUTH:
            draw(src / "images" / f"{s}.jpg", s)
        args += ["--format", "yolo"] if case == "no_labels" else []
    elif case == "bad_json":
        cvat_coco(src, ["rock", "paper", "scissors"])
        (src / "annotations" / "instances_default.json").write_text("{not json")
    elif case == "bad_name":
        cvat_voc(src, ["rock"] * 3)
        args = ["--name", "../escape"]
    elif case == "ratio":
        cvat_voc(src, ["rock"] * 3)
        args += ["--test-ratio", "1.5"]
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(src), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "data" / "imports" / "x").exists()
    assert not (tmp_path / "data" / "imports" / "x.partial").exists()


def test_export_refuses_a_missing_dataset_and_a_non_empty_folder(canonical, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "out"), "--format", "voc"]) == 2
    assert "data/validated/test" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["export", str(canonical / "validated" / "all"), str(tmp_path / "full"), "--format", "coco"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_set_param_edits_one_line_and_appends_a_missing_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    set_param(path, "data", "source", "data/imports/a")
    assert path.read_text() == PARAMS.replace("data/raw/synthetic", "data/imports/a")
    path.write_text("split:\n  version: v1\n")
    set_param(path, "data", "source", "data/imports/a")
    assert path.read_text() == "split:\n  version: v1\n\ndata:\n  source: data/imports/a\n"
