"""The validator on a dirty synthetic source: every injected structural defect is found and handled as the
params say, every input image is kept or quarantined, and the input tree is never modified."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import read_coco
from rpsdet.data.defects import inject_defects
from rpsdet.data.formats.voc import read_voc
from rpsdet.data.synth import write_source
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.geometry import iou
from rpsdet.validate.report import summary_table
from rpsdet.validate.run import validate_source

SYNTH = dict(width=160, height=120, max_hands=4)
TRAIN = dict(seed=3, count=20, multi_fraction=0.1, **SYNTH)


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def report(out: Path) -> list[dict]:
    with open(out / "report.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def dirty(tmp_path_factory):
    """A dirty test source with every defect kind, its clean twin, a train source, and one validation run."""
    root = tmp_path_factory.mktemp("dirty")
    write_source(root / "train", prefix="tr", count=TRAIN["count"], multi_fraction=0.1, seed=3, **SYNTH)
    for name in ("src", "clean"):
        write_source(root / name, prefix="x", count=80, multi_fraction=0.5, seed=0, **SYNTH)
    manifest = inject_defects(root / "src", {"seed": 1, "per_kind": 1, "label_noise": 2, "leak_from": TRAIN})
    before = tree_hashes(root / "src")
    summary = validate_source(root / "src", root / "out", ValidateConfig(reference=root / "train"))
    return root, manifest, before, summary


def test_manifest_covers_at_least_15_structural_kinds(dirty):
    _, manifest, _, _ = dirty
    structural = {m.kind for m in manifest if m.check not in ("", "label_issue")}
    assert len(structural) >= 15
    assert {"swapped_class", "shifted_box", "missing_box"} <= {m.kind for m in manifest}


def test_every_structural_defect_is_found_and_handled_as_params_say(dirty):
    root, manifest, _, _ = dirty
    rows = report(root / "out")
    result = {r["image"]: r["action"] for r in rows if r["check"] == "result"}
    missed = []
    for m in manifest:
        if m.check in ("", "label_issue"):
            continue
        hits = [
            r for r in rows if r["check"] == m.check and (r["image"] == m.image if m.image else r["file"] == m.file)
        ]
        if not hits:
            missed.append(m.kind)
        elif m.image:
            expected = "quarantined" if m.action == "quarantined" else "kept"
            assert result[m.image] == expected, (m.kind, result[m.image])
    assert missed == []  # recall 1.0


def test_kept_plus_quarantined_is_the_input_image_by_image_and_input_untouched(dirty):
    root, _, before, summary = dirty
    assert tree_hashes(root / "src") == before
    inputs = {p for p in before if p.startswith("JPEGImages/")}
    rows = report(root / "out")
    results = {r["image"]: r["action"] for r in rows if r["check"] == "result"}
    assert set(results) == inputs
    kept = {k for k, v in results.items() if v == "kept"}
    quarantined = {k for k, v in results.items() if v == "quarantined"}
    assert kept | quarantined == inputs and not kept & quarantined
    assert {p for p in tree_hashes(root / "out" / "quarantine") if p.startswith("JPEGImages/")} == quarantined
    for rel in quarantined:  # untouched originals
        assert hashlib.sha256((root / "out" / "quarantine" / rel).read_bytes()).hexdigest() == before[rel]
    records = read_coco(root / "out" / "annotations.json")
    assert {Path(r.file_name).name for r in records} == {Path(k).name for k in kept}
    assert summary["input_images"] == len(inputs)
    assert summary["kept_images"] + summary["quarantined_images"] == len(inputs)
    assert json.loads((root / "out" / "report.json").read_text(encoding="utf-8")) == rows


def test_fixed_images_are_upright_rgb_with_boxes_that_still_fit_the_hands(dirty):
    root, manifest, _, _ = dirty
    records = {Path(r.file_name).stem: r for r in read_coco(root / "out" / "annotations.json")}
    for m in manifest:
        if m.kind not in ("exif_rotated", "oversized", "size_mismatch_scaled", "lying_extension", "mode_I16"):
            continue
        stem = Path(m.image).stem
        rec = records[stem]
        with Image.open(root / "out" / rec.file_name) as im:
            assert im.mode == "RGB" and im.size == (rec.width, rec.height)
            assert im.format == ("PNG" if rec.file_name.endswith(".png") else "JPEG")
        original = read_voc(root / "clean" / "Annotations" / f"{stem}.xml")
        scale = rec.width / original.width
        truth = [tuple(v * scale for v in o.box) for o in original.objects]
        assert len(rec.boxes) == len(truth)
        for box in rec.boxes:
            assert max(iou(box, t) for t in truth) > 0.9, m.kind


def test_exif_rotated_pixels_match_the_clean_image(dirty):
    root, manifest, _, _ = dirty
    stem = Path(next(m.image for m in manifest if m.kind == "exif_rotated")).stem
    out = np.asarray(Image.open(root / "out" / "images" / f"{stem}.jpg").convert("L"), dtype=float)
    clean = np.asarray(Image.open(root / "clean" / "JPEGImages" / f"{stem}.jpg").convert("L"), dtype=float)
    assert out.shape == clean.shape and np.abs(out - clean).mean() < 6


def test_aliases_resolve_and_label_noise_passes_structural_checks(dirty):
    root, manifest, _, _ = dirty
    results = {r["image"]: r["action"] for r in report(root / "out") if r["check"] == "result"}
    for m in manifest:
        if m.check in ("", "label_issue"):  # alias, background image, label noise
            assert results[m.image] == "kept", m.kind


def test_quarantine_and_keep_policies_override_the_defaults(tmp_path, dirty):
    """Look-alikes and leakage are flagged and kept by default; each policy can quarantine them instead, and
    unlabelled / EXIF-ambiguous images can be kept instead."""
    root, manifest, _, _ = dirty
    default = {r["image"]: r["action"] for r in report(root / "out") if r["check"] == "result"}
    cfg = ValidateConfig(
        reference=root / "train",
        near_duplicates="quarantine",
        leakage="quarantine",
        exif_ambiguous="flag",
        unlabelled="keep",
    )
    validate_source(root / "src", tmp_path / "out", cfg)
    results = {r["image"]: r["action"] for r in report(tmp_path / "out") if r["check"] == "result"}
    image = {
        kind: next(m.image for m in manifest if m.kind == kind)
        for kind in ("near_duplicate", "leakage", "exif_ambiguous", "image_without_annotation")
    }
    for kind in ("near_duplicate", "leakage"):
        assert (default[image[kind]], results[image[kind]]) == ("kept", "quarantined"), kind
    for kind in ("exif_ambiguous", "image_without_annotation"):
        assert (default[image[kind]], results[image[kind]]) == ("quarantined", "kept"), kind


def test_background_images_are_kept_and_counted(dirty):
    root, manifest, _, summary = dirty
    empty = next(m.image for m in manifest if m.kind == "empty_annotation")
    records = {Path(r.file_name).stem: r for r in read_coco(root / "out" / "annotations.json")}
    assert records[Path(empty).stem].boxes == []
    assert summary["background_images"] == sum(not r.boxes for r in records.values()) >= 1


def test_leakage_and_look_alikes_are_flagged_on_the_kept_record(dirty):
    """The leaked test image stays, carrying the train image it copies: evaluation can score with and without."""
    root, manifest, _, summary = dirty
    leak = next(m for m in manifest if m.kind == "leakage")
    near = next(m for m in manifest if m.kind == "near_duplicate")
    records = {Path(r.file_name).stem: r for r in read_coco(root / "out" / "annotations.json")}
    flag = records[Path(leak.image).stem].flags["leakage"]
    assert flag["kind"] == "exact" and flag["distance"] == 0
    assert (root / "train" / flag["reference"]).read_bytes() == (root / "src" / leak.image).read_bytes()
    assert summary["leakage_images"] == 1 and summary["leakage_example"]["image"] == leak.image
    original = near.detail.removeprefix("a copy of ")
    assert records[Path(near.image).stem].flags["near_duplicate"]["of"] == original
    assert f"WARNING: 1 of {summary['input_images']} src images copy a train image" in summary_table(summary)


def test_exact_duplicates_are_quarantined_even_without_a_reference(tmp_path):
    write_source(tmp_path / "s", prefix="a", count=3, multi_fraction=0, seed=0, **SYNTH)
    for ext in ("jpg", "xml"):
        folder = "JPEGImages" if ext == "jpg" else "Annotations"
        (tmp_path / "s" / folder / f"b.{ext}").write_bytes((tmp_path / "s" / folder / f"a_00000.{ext}").read_bytes())
    summary = validate_source(tmp_path / "s", tmp_path / "o")
    assert summary["checks"] == {"exact_duplicate": 1} and summary["kept_images"] == 3


def test_leak_injection_renders_the_train_image_bit_for_bit(dirty):
    root, manifest, _, _ = dirty
    leak = next(m for m in manifest if m.kind == "leakage")
    data = (root / "src" / leak.image).read_bytes()
    assert any(p.read_bytes() == data for p in (root / "train" / "JPEGImages").iterdir())


def test_stray_files_are_reported_not_dropped_silently(tmp_path):
    write_source(tmp_path / "s", prefix="a", count=3, multi_fraction=0, seed=0, **SYNTH)
    (tmp_path / "s" / "JPEGImages" / "photo.gif").write_bytes(b"GIF89a")
    (tmp_path / "s" / "notes.txt").write_text("exported by hand")
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\0")
    summary = validate_source(tmp_path / "s", tmp_path / "o")
    stray = {r["file"]: r for r in report(tmp_path / "o") if r["check"] == "stray_file"}
    assert set(stray) == {"JPEGImages/photo.gif", "notes.txt", ".DS_Store"}
    assert all(r["action"] == "flagged" and "ignored" in r["detail"] for r in stray.values())
    assert summary["checks"] == {"stray_file": 3} and summary["kept_images"] == 3


def test_a_coco_json_is_an_annotation_not_a_stray_file(tmp_path):
    write_source(tmp_path / "v", prefix="a", count=3, multi_fraction=0, seed=0, **SYNTH)
    validate_source(tmp_path / "v", tmp_path / "c")  # the canonical output is a COCO source: annotations.json
    for extra in ("report.csv", "report.json"):
        (tmp_path / "c" / extra).unlink()
    summary = validate_source(tmp_path / "c", tmp_path / "c2")
    assert summary["checks"] == {} and summary["kept_images"] == 3


def test_a_second_run_writes_the_same_bytes(dirty, tmp_path):
    """DVC hashes the output: a rerun on the same input must not differ (no memory addresses, times or set order
    in messages), or every stage downstream reruns for nothing."""
    root = dirty[0]
    validate_source(root / "src", tmp_path / "again", ValidateConfig(reference=root / "train"))
    assert tree_hashes(tmp_path / "again") == tree_hashes(root / "out")
