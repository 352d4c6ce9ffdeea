"""Property tests: whatever bytes, XML, JSON or YOLO lines a source holds, readers and the validator answer with
findings, never an exception, and still account for every image."""

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rpsdet.data.formats.coco import read_coco_source
from rpsdet.data.formats.voc import parse_voc_xml
from rpsdet.data.formats.yolo import parse_yolo_text
from rpsdet.validate.run import validate_source

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(st.integers(-1000, 1000).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=5))
tags = st.sampled_from(
    [
        "annotation",
        "size",
        "width",
        "height",
        "object",
        "name",
        "bndbox",
        "xmin",
        "ymin",
        "xmax",
        "ymax",
        "filename",
        "other",
    ]
)


@st.composite
def xml_trees(draw, depth: int = 0) -> str:
    tag = draw(tags) if depth else draw(st.sampled_from(["annotation", "annotation", "foo"]))
    if depth >= 3 or draw(st.booleans()):
        return f"<{tag}>{draw(numbers)}</{tag}>"
    children = draw(st.lists(xml_trees(depth + 1), max_size=4))
    return f"<{tag}>{''.join(children)}</{tag}>"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "images",
                    "annotations",
                    "categories",
                    "id",
                    "file_name",
                    "image_id",
                    "category_id",
                    "bbox",
                    "width",
                    "height",
                    "name",
                ]
            ),
            kids,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def run_validator(files: dict[str, bytes]) -> dict:
    """Build a source from files plus one good image, validate it, and check every image has a result."""
    root = Path(tempfile.mkdtemp())
    try:
        for rel, data in files.items():
            (root / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "src" / rel).write_bytes(data)
        (root / "src" / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 48), (90, 120, 30)).save(root / "src" / "JPEGImages" / "good.jpg")
        summary = validate_source(root / "src", root / "out")
        images = [p for p in (root / "src").rglob("*") if p.suffix in (".jpg", ".png")]
        assert summary["input_images"] == len(images)
        assert summary["kept_images"] + summary["quarantined_images"] == len(images)
        return summary
    finally:
        shutil.rmtree(root)


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes_as_image_and_annotation(data):
    run_validator({"JPEGImages/a.jpg": data, "Annotations/a.xml": data, "JPEGImages/b.png": data[::-1]})


@SETTINGS
@given(xml_trees())
def test_random_xml(xml):
    parsed = parse_voc_xml(xml.encode(), "a.xml")
    assert isinstance(parsed, str) or parsed.file == "a.xml"
    run_validator({"Annotations/good.xml": xml.encode()})


@SETTINGS
@given(json_values)
def test_random_json_coco(value):
    root = Path(tempfile.mkdtemp())
    try:
        (root / "images").mkdir()
        Image.new("RGB", (40, 40)).save(root / "images" / "a.jpg")
        (root / "annotations.json").write_text(json.dumps(value))
        assert read_coco_source(root).format == "coco"
        summary = validate_source(root, root.parent / f"{root.name}_out")
        assert summary["kept_images"] + summary["quarantined_images"] == 1
    finally:
        shutil.rmtree(root)
        shutil.rmtree(root.parent / f"{root.name}_out", ignore_errors=True)


yolo_lines = st.lists(
    st.lists(st.one_of(st.integers(-3, 5).map(str), st.floats().map(str), st.text(max_size=4)), max_size=7).map(
        " ".join
    ),
    max_size=5,
).map("\n".join)


@SETTINGS
@given(yolo_lines)
def test_random_yolo_lines(text):
    parsed = parse_yolo_text(text, "a.txt", ["rock", "paper", "scissors"])
    assert isinstance(parsed, str) or all(o.name for o in parsed.objects)
    run_validator({"data.yaml": b"names: [rock, paper, scissors]\n", "JPEGImages/good.txt": text.encode()})
