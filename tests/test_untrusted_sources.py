"""A source folder is untrusted input: links out of it are reported and never read or copied (import, validate),
and only the image formats the pipeline accepts ever reach a decoder."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.importer import import_export
from rpsdet.validate.run import validate_source

SECRET_TEXT = b"root:x:0:0:root:/root:/bin/bash\n"


def jpeg(path: Path, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (10, 12, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)).save(path)
    return path.read_bytes()


@pytest.fixture
def export(tmp_path) -> tuple[Path, bytes]:
    """A YOLO export with links out of it: an image, a label and the class names file."""
    outside = tmp_path / "outside"
    secret_image = jpeg(outside / "secret.jpg", 99)
    (outside / "passwd").write_bytes(SECRET_TEXT)
    (outside / "data.yaml").write_text("names: [secret_a, secret_b, secret_c]\n")
    root = tmp_path / "export"
    for side, count in (("train", 4), ("test", 2)):
        for i in range(count):
            jpeg(root / side / "images" / f"{side}{i}.jpg", i + (10 if side == "test" else 0))
            (root / side / "labels").mkdir(parents=True, exist_ok=True)
            (root / side / "labels" / f"{side}{i}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    for folder in (root, root / "train"):
        (folder / "data.yaml").write_text("names: [rock, paper, scissors]\n")
    (root / "train" / "classes.txt").symlink_to(outside / "data.yaml")
    (root / "train" / "images" / "leak.jpg").symlink_to(outside / "secret.jpg")
    (root / "train" / "labels" / "leak.txt").symlink_to(outside / "passwd")
    (root / "train" / "images" / "z_inner.jpg").symlink_to("train1.jpg")  # inside the source: an ordinary image
    (root / "train" / "labels" / "z_inner.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    return root, secret_image


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


def test_validate_reports_links_out_of_the_source_and_never_reads_or_copies_them(export, tmp_path):
    root, secret_image = export
    out = tmp_path / "validated"
    summary = validate_source(root / "train", out)
    with open(out / "report.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    skipped = {r["file"]: r["detail"] for r in rows if r["check"] == "skipped_link"}
    assert set(skipped) == {"classes.txt", "images/leak.jpg", "labels/leak.txt"}
    assert all("outside the source" in d and "not read and not copied" in d for d in skipped.values())
    assert summary["kept_images"] == 4  # train0-3; the inner link is read: a copy of train1, quarantined as such
    quarantined = out / "quarantine" / "images" / "z_inner.jpg"
    assert not quarantined.is_symlink() and quarantined.read_bytes() == (root / "train/images/train1.jpg").read_bytes()
    for path in files_under(out):
        assert not path.is_symlink()
        data = path.read_bytes()
        assert data != secret_image and SECRET_TEXT not in data and b"secret_a" not in data


def test_import_leaves_links_out_of_the_export_behind_and_says_so(export, tmp_path):
    root, secret_image = export
    dest = tmp_path / "imports" / "hands"
    plan, _ = import_export(root, dest)
    left_out = "\n".join(plan.left_out)
    for rel in ("train/classes.txt", "train/images/leak.jpg", "train/labels/leak.txt"):
        assert f"{rel} (a link to" in left_out and "outside the source: not copied" in left_out
    for path in files_under(dest):
        assert not path.is_symlink()
        data = path.read_bytes()
        assert data != secret_image and SECRET_TEXT not in data and b"secret_a" not in data
    z_inner = dest / "train" / "train" / "images" / "z_inner.jpg"
    assert z_inner.read_bytes() == (root / "train" / "images" / "train1.jpg").read_bytes()


def test_only_accepted_image_formats_reach_a_decoder(tmp_path):
    src = tmp_path / "src"
    for i in range(3):
        jpeg(src / "images" / f"ok{i}.jpg", i)
        (src / "labels").mkdir(parents=True, exist_ok=True)
        (src / "labels" / f"ok{i}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    Image.new("RGB", (96, 80), (9, 9, 9)).save(src / "images" / "gif.jpg", "GIF")  # GIF bytes named .jpg
    (src / "images" / "eps.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 96 80\n")  # Ghostscript
    for name in ("gif", "eps"):
        (src / "labels" / f"{name}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    (src / "data.yaml").write_text("names: [rock, paper, scissors]\n")
    summary = validate_source(src, tmp_path / "out")
    with open(tmp_path / "out" / "report.csv", newline="") as fh:
        rows = {(r["file"], r["check"]): r for r in csv.DictReader(fh)}
    for name in ("images/gif.jpg", "images/eps.jpg"):
        row = rows[(name, "undecodable_image")]
        assert row["action"] == "quarantined" and "not an image in an accepted format" in row["detail"]
    assert summary["kept_images"] == 3
    assert sorted(os.listdir(tmp_path / "out" / "images")) == ["ok0.jpg", "ok1.jpg", "ok2.jpg"]
