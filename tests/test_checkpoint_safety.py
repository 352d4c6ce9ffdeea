"""Checkpoints load with weights_only=True: a pickle payload is refused with a clear message on every path that
reads a checkpoint a user hands over (models import, evaluate --model FILE, serve --checkpoint, the replica,
train's init_from and resume), and the payload never runs."""

import json
from pathlib import Path

import pytest
import torch

from rpsdet.cli import main
from rpsdet.model.checkpoint import FORMAT, UnsafeCheckpoint, load_checkpoint, save_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.model.predict import Detector
from rpsdet.train.loop import TrainConfig, resumable_state


class Payload:
    """Unpickling this creates the marker file: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path) -> tuple[Path, Path]:
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pt"
    config = {
        "arch": "efficientdet_d0",
        "image_size": 128,
        "norm": "group",
        "class_names": ["rock", "paper", "scissors"],
        "note": Payload(marker),
    }
    torch.save({"format": FORMAT, "config": config, "state_dict": {}}, path)
    return path, marker


def refused(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "refused" in err and "could run code" in err and "(io.open)" in err
    return err


def test_models_import_refuses_a_pickle_payload(evil, tmp_path, capsys):
    path, marker = evil
    refused(capsys, ["models", "import", str(path), "--name", "friend", "--repo", str(tmp_path / "repo")])
    assert not marker.exists() and not (tmp_path / "repo" / "models").exists()


def test_evaluate_refuses_a_pickle_payload(evil, tmp_path, capsys):
    path, marker = evil
    data = tmp_path / "data"
    data.mkdir()
    (data / "annotations.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    refused(
        capsys,
        [
            "evaluate",
            "--model",
            str(path),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "eval"),
            "--params",
            str(tmp_path / "none.yaml"),
        ],
    )
    assert not marker.exists()


def test_serve_refuses_a_pickle_payload_before_starting(evil, tmp_path, capsys):
    path, marker = evil
    refused(capsys, ["serve", "--checkpoint", str(path), "--params", str(tmp_path / "none.yaml")])
    with pytest.raises(UnsafeCheckpoint):  # what a model replica runs when it loads its weights
        Detector.from_checkpoint(path)
    assert not marker.exists()


def test_training_refuses_a_pickle_payload_as_warm_start_or_resume_state(evil, tmp_path):
    path, marker = evil
    with pytest.raises(UnsafeCheckpoint):
        load_checkpoint(path)
    with pytest.raises(UnsafeCheckpoint):
        resumable_state(path, TrainConfig())
    assert not marker.exists()


def test_a_damaged_file_is_named_as_unreadable(tmp_path):
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt is not a readable torch file") as exc:
        load_checkpoint(tmp_path / "garbage.pt")
    assert not isinstance(exc.value, UnsafeCheckpoint)


def test_a_saved_checkpoint_is_plain_data_and_loads_with_weights_only(tmp_path):
    model = build_effdet("efficientdet_d0", 128, 3, "group")
    config = {
        "arch": "efficientdet_d0",
        "image_size": 128,
        "norm": "group",
        "class_names": ("rock", "paper", "scissors"),
    }
    save_checkpoint(tmp_path / "m.pt", model, config, {"epoch": 3, "val_metrics": {"map": 0.5, "ar100": None}})
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["config"]["class_names"] == ["rock", "paper", "scissors"] and raw["epoch"] == 3
    loaded, cfg, _ = load_checkpoint(tmp_path / "m.pt")
    assert cfg["image_size"] == 128
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(TypeError, match="plain data"):
        save_checkpoint(tmp_path / "bad.pt", model, {**config, "data": Path("x")})
    assert not (tmp_path / "bad.pt").exists()
