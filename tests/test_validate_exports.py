"""What labeling tools really write: background images per each format's convention, unlabelled VOC / COCO images,
impossible boxes, shared COCO ids, exact and near copies. Every image ends up kept or quarantined with its reason."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import read_coco
from rpsdet.data.coco_subset import write_side_json
from rpsdet.data.formats.voc import read_voc, write_voc
from rpsdet.data.synth import write_source
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.images import inspect_image
from rpsdet.validate.report import summary_table
from rpsdet.validate.run import validate_source

NAMES = ["rock", "paper", "scissors"]


def results(out: Path) -> dict[str, dict]:
    """image -> its result row plus every finding about it, from report.csv."""
    with open(out / "report.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    found: dict[str, dict] = {}
    for row in rows:
        entry = found.setdefault(row["image"], {"checks": {}})
        if row["check"] == "result":
            entry["action"] = row["action"]
        else:
            entry["checks"][row["check"]] = (row["action"], row["detail"])
    return found


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("exports") / "voc"
    write_source(root, prefix="v", count=5, multi_fraction=0.4, seed=4, width=160, height=120)
    return root


def write_coco(voc: Path, out: Path, edit=lambda data: None) -> None:
    """The VOC source as a CVAT-style COCO export (images/ + annotations/instances_default.json)."""
    (out / "images").mkdir(parents=True)
    images, anns = [], []
    for i, xml in enumerate(sorted((voc / "Annotations").glob("*.xml"))):
        rec = read_voc(xml)
        (out / "images" / rec.filename).write_bytes((voc / "JPEGImages" / rec.filename).read_bytes())
        images.append({"id": i + 1, "file_name": rec.filename, "width": rec.width, "height": rec.height})
        for o in rec.objects:
            x1, y1, x2, y2 = o.box
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": NAMES.index(o.name) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                }
            )
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)]
    data = {"images": images, "annotations": anns, "categories": cats}
    edit(data)
    (out / "annotations").mkdir()
    (out / "annotations" / "instances_default.json").write_text(json.dumps(data))


def write_yolo(voc: Path, out: Path) -> list[str]:
    """The VOC source as an Ultralytics dataset; returns the image paths."""
    (out / "images").mkdir(parents=True)
    (out / "labels").mkdir()
    (out / "data.yaml").write_text("names: [rock, paper, scissors]\n")
    images = []
    for xml in sorted((voc / "Annotations").glob("*.xml")):
        rec = read_voc(xml)
        (out / "images" / rec.filename).write_bytes((voc / "JPEGImages" / rec.filename).read_bytes())
        w, h = rec.width, rec.height
        lines = [
            f"{NAMES.index(o.name)} {(o.box[0] + o.box[2]) / 2 / w} {(o.box[1] + o.box[3]) / 2 / h} "
            f"{(o.box[2] - o.box[0]) / w} {(o.box[3] - o.box[1]) / h}"
            for o in rec.objects
        ]
        (out / "labels" / f"{xml.stem}.txt").write_text("\n".join(lines) + "\n")
        images.append(f"images/{rec.filename}")
    return images


def test_yolo_empty_or_missing_label_file_is_a_kept_background_image(voc, tmp_path):
    images = write_yolo(voc, tmp_path / "y")
    (tmp_path / "y" / "labels" / f"{Path(images[0]).stem}.txt").write_text("")  # Roboflow's background image
    (tmp_path / "y" / "labels" / f"{Path(images[1]).stem}.txt").unlink()  # Ultralytics: no file = no objects
    summary = validate_source(tmp_path / "y", tmp_path / "o")
    found = results(tmp_path / "o")
    assert all(found[i]["action"] == "kept" for i in images)
    assert summary["background_images"] == 2 and summary["quarantined_images"] == 0
    assert "background images (no boxes): 2" in summary_table(summary)


def test_voc_empty_annotation_is_background_and_missing_xml_is_unlabelled(voc, tmp_path):
    src = tmp_path / "v"
    write_source(src, prefix="v", count=5, multi_fraction=0.4, seed=4, width=160, height=120)
    xmls = sorted((src / "Annotations").glob("*.xml"))
    text = xmls[0].read_text()
    xmls[0].write_text(text[: text.index("<object>")] + "</annotation>\n")  # LabelImg's save of an empty image
    xmls[1].unlink()
    summary = validate_source(src, tmp_path / "o")
    found = results(tmp_path / "o")
    assert found[f"JPEGImages/{xmls[0].stem}.jpg"] == {"checks": {}, "action": "kept"}
    unlabelled = found[f"JPEGImages/{xmls[1].stem}.jpg"]
    assert (
        unlabelled["action"] == "quarantined"
        and "validate.unlabelled: keep" in unlabelled["checks"]["unlabelled_image"][1]
    )
    assert summary["background_images"] == 1
    summary = validate_source(src, tmp_path / "o2", ValidateConfig(unlabelled="keep"))
    assert results(tmp_path / "o2")[f"JPEGImages/{xmls[1].stem}.jpg"]["action"] == "kept"
    assert summary["background_images"] == 2 and summary["quarantined_images"] == 0


def test_coco_image_without_annotations_is_background_and_unlisted_image_is_unlabelled(voc, tmp_path):
    def edit(data):
        data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 1]
        data["images"] = [i for i in data["images"] if i["id"] != 2]

    write_coco(voc, tmp_path / "c", edit)
    summary = validate_source(tmp_path / "c", tmp_path / "o")
    found = results(tmp_path / "o")
    names = sorted(p.name for p in (voc / "JPEGImages").iterdir())
    assert found[f"images/{names[0]}"]["action"] == "kept"
    assert found[f"images/{names[1]}"]["action"] == "quarantined"
    assert set(found[f"images/{names[1]}"]["checks"]) == {"unlabelled_image"}
    assert summary["background_images"] == 1


def test_negative_coco_sizes_and_yolo_values_are_quarantined_not_reordered(voc, tmp_path):
    def edit(data):
        data["annotations"][0]["bbox"][2] *= -1  # a box dragged right to left, stored with a negative width

    write_coco(voc, tmp_path / "c", edit)
    validate_source(tmp_path / "c", tmp_path / "oc")
    image = f"images/{sorted(p.name for p in (voc / 'JPEGImages').iterdir())[0]}"
    found = results(tmp_path / "oc")[image]
    assert found["action"] == "quarantined" and "negative width or height" in found["checks"]["negative_box"][1]
    assert "inverted_box" not in found["checks"]

    images = write_yolo(voc, tmp_path / "y")
    label = tmp_path / "y" / "labels" / f"{Path(images[2]).stem}.txt"
    cls, cx, cy, w, h = label.read_text().splitlines()[0].split()
    label.write_text(f"{cls} {cx} {cy} -{w} {h}\n")
    validate_source(tmp_path / "y", tmp_path / "oy")
    found = results(tmp_path / "oy")[images[2]]
    assert found["action"] == "quarantined" and "line 1" in found["checks"]["negative_box"][1]


def test_swapped_voc_corners_are_still_reordered_as_a_fix(voc, tmp_path):
    src = tmp_path / "v"
    write_source(src, prefix="v", count=2, multi_fraction=0, seed=4, width=160, height=120)
    xml = sorted((src / "Annotations").glob("*.xml"))[0]
    text = xml.read_text()
    xmin, xmax = text.split("<xmin>")[1].split("<")[0], text.split("<xmax>")[1].split("<")[0]
    xml.write_text(text.replace(f"<xmin>{xmin}<", f"<xmin>{xmax}<").replace(f"<xmax>{xmax}<", f"<xmax>{xmin}<"))
    validate_source(src, tmp_path / "o")
    found = results(tmp_path / "o")[f"JPEGImages/{xml.stem}.jpg"]
    assert found["action"] == "kept" and found["checks"]["inverted_box"][0] == "fixed"


def test_shared_coco_image_ids_quarantine_every_image_involved(voc, tmp_path):
    def edit(data):
        data["images"][2]["id"] = data["images"][1]["id"]

    write_coco(voc, tmp_path / "c", edit)
    summary = validate_source(tmp_path / "c", tmp_path / "o")
    names = sorted(p.name for p in (voc / "JPEGImages").iterdir())
    found = results(tmp_path / "o")
    for n in (1, 2):
        entry = found[f"images/{names[n]}"]
        assert entry["action"] == "quarantined" and "shares id 2" in entry["checks"]["duplicate_image_id"][1]
    assert summary["quarantined_images"] == 2 and summary["kept_images"] == 3


def test_import_keeps_shared_ids_shared_so_the_validator_still_sees_them(voc, tmp_path):
    def edit(data):
        data["images"][2]["id"] = data["images"][1]["id"]

    write_coco(voc, tmp_path / "c", edit)
    names = sorted(p.name for p in (voc / "JPEGImages").iterdir())
    write_side_json(tmp_path / "c", [tmp_path / "c"], {f"images/{n}" for n in names}, tmp_path / "side.json")
    ids = {i["file_name"]: i["id"] for i in json.loads((tmp_path / "side.json").read_text())["images"]}
    assert ids[f"images/{names[1]}"] == ids[f"images/{names[2]}"] and len(set(ids.values())) == 4
    with pytest.raises(ValueError, match="split between train and test"):
        write_side_json(tmp_path / "c", [tmp_path / "c"], {f"images/{names[1]}"}, tmp_path / "side2.json")


def test_exact_copies_go_when_labels_agree_and_are_flagged_when_they_differ(voc, tmp_path):
    src = tmp_path / "v"
    write_source(src, prefix="v", count=3, multi_fraction=0, seed=4, width=160, height=120)
    first = sorted((src / "JPEGImages").iterdir())[0]
    for name in ("w_same", "w_other"):
        (src / "JPEGImages" / f"{name}.jpg").write_bytes(first.read_bytes())
        (src / "Annotations" / f"{name}.xml").write_text((src / "Annotations" / f"{first.stem}.xml").read_text())
    other = read_voc(src / "Annotations" / "w_other.xml")
    other.objects[0].name = next(n for n in NAMES if n != other.objects[0].name)
    write_voc(src / "Annotations" / "w_other.xml", other)
    summary = validate_source(src, tmp_path / "o")
    found = results(tmp_path / "o")
    assert found["JPEGImages/w_same.jpg"]["action"] == "quarantined"
    assert found["JPEGImages/w_other.jpg"]["action"] == "kept"
    assert found["JPEGImages/w_other.jpg"]["checks"]["exact_duplicate"][0] == "flagged"
    assert "other boxes" in found["JPEGImages/w_other.jpg"]["checks"]["exact_duplicate"][1]
    assert summary["checks"] == {"exact_duplicate": 2}


def test_the_same_pixels_in_other_bytes_are_an_exact_copy(tmp_path):
    src = tmp_path / "y"
    (src / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    pixels.save(src / "images" / "a.png")
    pixels.save(src / "images" / "b.png", compress_level=1)  # other bytes, same pixels
    assert (src / "images" / "a.png").read_bytes() != (src / "images" / "b.png").read_bytes()
    (src / "data.yaml").write_text("names: [rock, paper, scissors]\n")
    summary = validate_source(src, tmp_path / "o")
    assert results(tmp_path / "o")["images/b.png"]["checks"]["exact_duplicate"][0] == "quarantined"
    assert summary["kept_images"] == 1


def flat(colour: tuple[int, int, int], seed: int) -> Image.Image:
    """A plain wall: one colour plus faint sensor noise, so the dHash bits are noise."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(
        (np.full((96, 128, 3), colour) + rng.normal(0, 1.5, (96, 128, 3))).clip(0, 255).astype(np.uint8)
    )


def test_distinct_flat_images_close_in_dhash_are_not_near_duplicates(tmp_path):
    src = tmp_path / "y"
    (src / "images").mkdir(parents=True)
    colours = [(200, 40, 40), (40, 40, 200), (128, 128, 128), (150, 150, 150), (40, 200, 40)]
    for n, colour in enumerate(colours):
        flat(colour, n).save(src / "images" / f"wall{n}.png")
    flat(colours[0], 99).save(src / "images" / "wall0_again.png")  # the same wall, new noise: a real look-alike
    infos = {p.name: inspect_image(str(src / "images"), p.name, 10**8) for p in (src / "images").iterdir()}
    bits = [
        bin(infos[f"wall{a}.png"].dhash ^ infos[f"wall{b}.png"].dhash).count("1")
        for a in range(5)
        for b in range(a + 1, 5)
    ]
    assert min(bits) <= 4  # the hash alone would call some of these distinct walls duplicates
    (src / "data.yaml").write_text("names: [rock, paper, scissors]\n")
    summary = validate_source(src, tmp_path / "o")
    found = results(tmp_path / "o")
    assert set(found["images/wall0_again.png"]["checks"]) == {"near_duplicate"}
    assert summary["checks"] == {"near_duplicate": 1}


def test_near_duplicates_are_flagged_with_the_pair_and_distance_or_quarantined_on_request(voc, tmp_path):
    src = tmp_path / "v"
    write_source(src, prefix="v", count=3, multi_fraction=0, seed=4, width=160, height=120)
    first = sorted((src / "JPEGImages").iterdir())[0]
    Image.open(first).save(src / "JPEGImages" / "z_frame.jpg", quality=70)  # the next, almost equal frame
    (src / "Annotations" / "z_frame.xml").write_text((src / "Annotations" / f"{first.stem}.xml").read_text())
    summary = validate_source(src, tmp_path / "o")
    action, detail = results(tmp_path / "o")["JPEGImages/z_frame.jpg"]["checks"]["near_duplicate"]
    assert action == "flagged" and f"looks like JPEGImages/{first.name}" in detail and "hash bits" in detail
    record = next(r for r in read_coco(tmp_path / "o" / "annotations.json") if r.file_name.endswith("z_frame.jpg"))
    assert record.flags["near_duplicate"]["of"] == f"JPEGImages/{first.name}"
    assert summary["near_duplicate_images"] == 1 and summary["kept_images"] == 4
    summary = validate_source(src, tmp_path / "o2", ValidateConfig(near_duplicates="quarantine"))
    assert results(tmp_path / "o2")["JPEGImages/z_frame.jpg"]["action"] == "quarantined"


def test_a_box_past_the_border_only_by_rounding_is_not_a_finding(voc, tmp_path):
    images = write_yolo(voc, tmp_path / "y")
    label = tmp_path / "y" / "labels" / f"{Path(images[0]).stem}.txt"
    label.write_text("0 0.100000 0.250001 0.200000 0.500004\n1 0.500000 0.500000 0.300000 0.400000\n")  # y1 < 0
    label = tmp_path / "y" / "labels" / f"{Path(images[1]).stem}.txt"
    label.write_text("0 0.100000 0.200000 0.200000 0.500000\n")  # 10 % outside: a real finding
    validate_source(tmp_path / "y", tmp_path / "o")
    found = results(tmp_path / "o")
    assert found[images[0]] == {"checks": {}, "action": "kept"}
    assert found[images[1]]["checks"]["box_outside_image"][0] == "box_clipped"
    record = next(r for r in read_coco(tmp_path / "o" / "annotations.json") if r.file_name == images[0])
    assert record.boxes[0][1] == 0.0


def test_cli_unlabelled_flag_overrides_the_param(tmp_path, capsys):
    from rpsdet.cli import main

    src = tmp_path / "v"
    write_source(src, prefix="v", count=3, multi_fraction=0, seed=4, width=160, height=120)
    xml = sorted((src / "Annotations").glob("*.xml"))[0]
    xml.unlink()
    args = ["validate", str(src), str(tmp_path / "o"), "--params", str(tmp_path / "none.yaml")]
    assert main(args) == 0 and "unlabelled_image             quarantined" in capsys.readouterr().out
    assert main([*args, "--unlabelled", "keep"]) == 0
    assert results(tmp_path / "o")[f"JPEGImages/{xml.stem}.jpg"]["action"] == "kept"
