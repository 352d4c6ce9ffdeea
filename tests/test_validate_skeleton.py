from pathlib import Path

from PIL import Image

from rpsdet.data.coco import read_coco
from rpsdet.data.synth import write_source
from rpsdet.validate.voc_source import validate_voc_source


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_every_image_is_kept_or_quarantined_with_a_reason_and_input_is_untouched(tmp_path):
    src = tmp_path / "src"
    write_source(src, prefix="x", count=8, multi_fraction=0.0, seed=0, width=96, height=72)
    (src / "JPEGImages" / "x_00000.jpg").write_bytes(b"not a jpeg")                      # undecodable
    (src / "Annotations" / "x_00001.xml").write_text("<annotation><size>")              # unparseable
    xml = (src / "Annotations" / "x_00002.xml").read_text()
    (src / "Annotations" / "x_00002.xml").write_text(xml.replace("<name>rock<", "<name>lizard<")
                                                     .replace("<name>paper<", "<name>lizard<")
                                                     .replace("<name>scissors<", "<name>lizard<"))
    (src / "Annotations" / "x_00003.xml").unlink()                                       # no annotation
    Image.new("RGB", (96, 72)).save(src / "JPEGImages" / "x_00004.jpg")                  # keep: boxes still fine
    before = _tree(src)

    summary = validate_voc_source(src, tmp_path / "out")

    assert _tree(src) == before
    assert summary["input_images"] == 8
    assert summary["kept_images"] + summary["quarantined_images"] == 8
    assert summary["checks"] == {"undecodable_image": 1, "image_quarantined": 1, "unparseable_annotation": 2, "unknown_class": 2,
                                 "missing_annotation": 1}
    kept = read_coco(tmp_path / "out" / "annotations.json")
    assert len(kept) == summary["kept_images"] == 4
    assert all((tmp_path / "out" / r.file_name).is_file() for r in kept)
    quarantined = {p.name for p in (tmp_path / "out" / "quarantine").rglob("*") if p.is_file()}
    assert {"x_00000.jpg", "x_00001.jpg", "x_00001.xml", "x_00002.jpg", "x_00003.jpg"} <= quarantined
    report = (tmp_path / "out" / "report.csv").read_text()
    assert "lizard" in report and "params.yaml" in report
