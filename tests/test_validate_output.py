"""`rpsdet validate SRC OUT` replaces OUT, so it refuses any OUT a slip of the keyboard could make dangerous:
SRC itself, a parent of SRC, a folder inside SRC, or a non-empty folder it did not write (the project root, ~)."""

from pathlib import Path

import pytest

from rpsdet.cli import main
from rpsdet.data.synth import write_source
from rpsdet.validate.output_folder import MARKER
from rpsdet.validate.run import validate_source


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text("validate: {}\n")
    (root / "notes.txt").write_text("mine\n")
    write_source(root / "data" / "raw" / "src", prefix="src", count=4, multi_fraction=0.0, seed=1, width=96, height=80)
    return root


@pytest.mark.parametrize(
    "out", [".", "data", "data/raw", "data/raw/src", "data/raw/src/JPEGImages", "data/raw/src/new_folder"]
)
def test_output_overlapping_or_above_the_source_is_refused_and_nothing_changes(project, out, capsys):
    before = snapshot(project)
    code = main(["validate", str(project / "data/raw/src"), str(project / out), "--params", str(project / "none")])
    assert code == 2
    err = capsys.readouterr().err
    assert ("overlaps the source" in err) or ("not written by `rpsdet validate`" in err)
    assert snapshot(project) == before and not (project / "data/raw/src/new_folder").exists()


def test_a_foreign_non_empty_folder_is_refused(project, tmp_path):
    home = tmp_path / "home"  # stands for ~ or a project root: non-empty, no marker
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key\n")
    with pytest.raises(ValueError, match="not written by `rpsdet validate`") as exc:
        validate_source(project / "data/raw/src", home)
    assert "delete it yourself" in str(exc.value)
    assert (home / ".ssh" / "id_ed25519").read_text() == "key\n"
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        validate_source(project / "data/raw/src", tmp_path / "a_file")


def test_new_empty_and_previous_outputs_are_written(project, tmp_path):
    out = tmp_path / "validated"
    first = validate_source(project / "data/raw/src", out)
    assert (out / MARKER).is_file() and (out / "annotations.json").is_file()
    (out / "images" / "stale.jpg").write_bytes(b"old run")
    assert validate_source(project / "data/raw/src", out) == first  # its own earlier output: replaced
    assert not (out / "images" / "stale.jpg").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    validate_source(project / "data/raw/src", empty)
    assert (empty / MARKER).is_file()
