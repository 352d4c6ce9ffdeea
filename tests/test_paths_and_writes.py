"""COCO files name paths to open: `export` and `evaluate --data` refuse any that leave the dataset or the project.
params.yaml edits and registry files are written atomically: a failed write leaves the old file whole."""

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.cli import main
from rpsdet.data.exporter import export_dataset
from rpsdet.files import atomic_write

CATEGORIES = [{"id": 1, "name": "rock"}, {"id": 2, "name": "paper"}, {"id": 3, "name": "scissors"}]


@pytest.fixture
def layout(tmp_path) -> Path:
    """project/data/ds holds one real image; outside the project lie a secret 'image' and a key."""
    project = tmp_path / "project"
    (project / "data" / "ds" / "images").mkdir(parents=True)
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(project / "data" / "ds" / "images" / "ok.jpg")
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "secret.jpg")
    (project / ".rpsdet").mkdir()
    (project / ".rpsdet" / "token_secret").write_text("00" * 32)
    return project


def write_coco(path: Path, file_names: list[str]) -> Path:
    images = [{"id": i + 1, "file_name": name, "width": 50, "height": 40} for i, name in enumerate(file_names)]
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATEGORIES}))
    return path


@pytest.mark.parametrize(
    "bad, why",
    [
        ("../../../secret.jpg", "leads outside"),
        ("{abs}", "absolute path"),
        ("../../.rpsdet/token_secret", "not an image file"),
        ("images/link.jpg", "leads outside"),
    ],
)
def test_export_and_evaluate_refuse_paths_out_of_the_dataset(layout, tmp_path, bad, why, capsys, monkeypatch):
    (layout / "data" / "ds" / "images" / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    bad = bad.replace("{abs}", str(tmp_path / "secret.jpg"))
    coco = write_coco(layout / "data" / "ds" / "annotations.json", ["images/ok.jpg", bad])
    with pytest.raises(ValueError, match=why):
        export_dataset(coco.parent, tmp_path / "out", "coco", root=layout)
    assert not (tmp_path / "out").exists()
    monkeypatch.chdir(layout)
    assert main(["export", "data/ds", str(tmp_path / "out2"), "--format", "yolo"]) == 2
    assert "file_name(s) refused" in capsys.readouterr().err and not (tmp_path / "out2").exists()
    (tmp_path / "model.pt").write_bytes(b"the data check comes before any model is loaded")
    assert (
        main(["evaluate", "--model", str(tmp_path / "model.pt"), "--data", "data/ds", "--out", str(tmp_path / "eval")])
        == 2
    )
    assert "file_name(s) refused" in capsys.readouterr().err


def test_a_split_file_may_point_anywhere_inside_the_project(layout, tmp_path, monkeypatch):
    (layout / "data" / "splits").mkdir()
    write_coco(layout / "data" / "splits" / "test.json", ["../ds/images/ok.jpg"])
    monkeypatch.chdir(layout)
    assert main(["export", "data/splits/test.json", str(tmp_path / "out"), "--format", "coco"]) == 0
    assert (tmp_path / "out" / "images" / "ok.jpg").is_file()
    with pytest.raises(ValueError, match="leads outside"):  # the same file from elsewhere: only its own folder
        export_dataset(layout / "data" / "splits" / "test.json", tmp_path / "out3", "coco")


def test_a_failed_params_edit_leaves_params_yaml_whole(tmp_path):
    """A write that fails half way (here: a file-size limit, as a full disk would) must not leave half a file."""
    params = tmp_path / "params.yaml"
    original = "# knobs\ndata:\n  source: data/raw/synthetic\n" + "".join(f"# comment {i}\n" for i in range(200))
    params.write_text(original)
    code = textwrap.dedent(f"""
        import resource, signal, sys
        from rpsdet.params import set_param
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
        try:
            set_param({str(params)!r}, "data", "source", "data/imports/hands")
        except OSError as exc:
            print("write failed:", exc.strerror)
        """)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert "write failed: File too large" in out.stdout, out.stderr
    assert params.read_text() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no temporary file left behind


def test_atomic_write_keeps_the_old_file_on_error_and_its_permissions(tmp_path):
    path = tmp_path / "dvc.yaml"
    path.write_text("artifacts: {}\n")
    path.chmod(0o640)
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write("artifacts:\n  half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "artifacts: {}\n" and os.listdir(tmp_path) == ["dvc.yaml"]
    with atomic_write(path) as fh:
        fh.write("artifacts:\n  model: {}\n")
    assert path.read_text() == "artifacts:\n  model: {}\n" and stat.S_IMODE(path.stat().st_mode) == 0o640
