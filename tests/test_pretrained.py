"""train.pretrained without network: weights files written into the exact caches torch.hub and Hugging Face read.

Each file is a state dict with the real keys and shapes (the architecture built with random weights), written where
the library looks for it; sockets are blocked, so a test that reached for the internet fails instead.
"""

import os
import runpy
import shutil
import socket
import sys
from pathlib import Path

import huggingface_hub
import pytest
import safetensors.torch
import timm
import torch
import yaml
from effdet import EfficientDet, get_efficientdet_config
from timm.layers import FrozenBatchNormAct2d

from rpsdet.classes import CLASS_NAMES
from rpsdet.model.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from rpsdet.model.factory import build_effdet
from rpsdet.model.pretrained import SYNTHETIC_CHECKPOINT, PretrainedWeightsMissing, check_start, start_point
from rpsdet.train.job import TrainJob
from rpsdet.train.loop import TrainConfig, train

ARCH = "efficientdet_d0"
COCO_FILE = "efficientdet_d0-f3276ba8.pth"
COCO_URL = "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/" + COCO_FILE
HF_REPO = "timm/efficientnet_b0.ra_in1k"
HF_URL = f"https://huggingface.co/{HF_REPO}/resolve/main/model.safetensors"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HEAD_PRIOR = -4.59512  # effdet initialises the class head's bias to -log((1 - 0.01) / 0.01)
TINY = dict(image_size=128, batch_size=4, warmup_steps=2, eval_every=1, ema_decay=0.0, threads=2, epochs=1)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch.hub reads it on every call
    return tmp_path / "torch"


@pytest.fixture
def coco_file(torch_home) -> dict[str, torch.Tensor]:
    """effdet's 90-class COCO detector, random weights, at $TORCH_HOME/hub/checkpoints/<the file effdet names>."""
    torch.manual_seed(1)
    state = EfficientDet(get_efficientdet_config(ARCH), pretrained_backbone=False).state_dict()
    path = torch_home / "hub" / "checkpoints" / COCO_FILE
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


@pytest.fixture
def hf_snapshot() -> Path:
    """The Hugging Face cache folder of the backbone's repo (conftest points HF_HOME at an empty folder)."""
    folder = Path(huggingface_hub.constants.HF_HUB_CACHE) / "models--timm--efficientnet_b0.ra_in1k"
    assert Path(huggingface_hub.constants.HF_HUB_CACHE) == Path(os.environ["HF_HOME"]) / "hub"
    assert not folder.exists()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def imagenet_file(hf_snapshot) -> dict[str, torch.Tensor]:
    """timm's efficientnet_b0 (random weights) as model.safetensors in the snapshot refs/main names."""
    torch.manual_seed(2)
    state = {k: v.contiguous() for k, v in timm.create_model("efficientnet_b0", pretrained=False).state_dict().items()}
    snapshot = hf_snapshot / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    safetensors.torch.save_file(state, snapshot / "model.safetensors")
    (hf_snapshot / "refs").mkdir()
    (hf_snapshot / "refs" / "main").write_text(COMMIT)
    return state


def test_coco_weights_are_loaded_from_the_torch_hub_cache_with_a_new_three_class_head(coco_file):
    model = build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="coco")
    state = model.state_dict()
    for key, value in coco_file.items():
        if key.startswith(("backbone.", "fpn.", "box_net.")) and not key.endswith("num_batches_tracked"):
            assert torch.equal(state[key], value), key
    head = state["class_net.predict.conv_pw.weight"]
    assert head.shape[0] == 9 * len(CLASS_NAMES) and coco_file["class_net.predict.conv_pw.weight"].shape[0] == 9 * 90
    assert torch.allclose(state["class_net.predict.conv_pw.bias"], torch.tensor(HEAD_PRIOR))
    assert isinstance(model.backbone.bn1, FrozenBatchNormAct2d)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_imagenet_weights_are_loaded_by_timm_from_the_hugging_face_cache(imagenet_file):
    model = build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="imagenet")
    backbone = model.backbone.state_dict()
    assert len(backbone) > 300
    for key, value in backbone.items():
        assert torch.equal(value, imagenet_file[key]), key


def test_offline_with_an_empty_torch_hub_cache_names_file_url_and_path(torch_home):
    with pytest.raises(PretrainedWeightsMissing) as err:
        build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="coco")
    message = str(err.value)
    assert "\n" not in message
    assert COCO_FILE in message and COCO_URL in message
    assert str(torch_home / "hub" / "checkpoints" / COCO_FILE) in message
    assert not (torch_home / "hub" / "checkpoints" / COCO_FILE).exists()  # nothing half-written left behind


def test_offline_with_an_empty_hugging_face_cache_names_file_url_and_path(hf_snapshot, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    with pytest.raises(PretrainedWeightsMissing) as err:
        build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="imagenet")
    message = str(err.value)
    assert "\n" not in message and "HF_HUB_OFFLINE" in message
    assert "model.safetensors" in message and HF_URL in message
    assert str(hf_snapshot / "snapshots" / "<commit>" / "model.safetensors") in message


def test_a_corrupt_cached_file_is_named_not_replaced_by_random_weights(torch_home):
    path = torch_home / "hub" / "checkpoints" / COCO_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"{path} does not load into {ARCH}"):
        build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="coco")


@pytest.mark.parametrize(
    "norm, pretrained, message",
    [
        ("group", "coco", "would discard"),
        ("group", "imagenet", "would discard"),
        ("frozen_batch", "none", "nothing pretrained is loaded"),
        ("batch", "resnet", "must be one of"),
    ],
)
def test_combinations_that_would_waste_the_weights_are_refused(norm, pretrained, message):
    with pytest.raises(ValueError, match=message):
        check_start(pretrained, norm, None, None)


def _trained_from(cfg: TrainConfig, splits: Path, out: Path) -> tuple[dict[str, torch.Tensor], dict]:
    train(cfg, splits / "train.json", splits / "val.json", out)
    _, config, ckpt = load_checkpoint(out)
    return ckpt["state_dict"], config


@pytest.mark.slow
def test_training_from_coco_starts_from_the_file_and_trains_the_new_head(coco_file, tiny_splits, tmp_path):
    state, config = _trained_from(
        TrainConfig(pretrained="coco", norm="frozen_batch", lr=1e-3, **TINY), tiny_splits, tmp_path / "model.pt"
    )
    assert config["started_from"] == "coco" and config["norm"] == "frozen_batch"
    frozen = [k for k in coco_file if k.startswith("backbone.") and k.endswith(("running_mean", "running_var"))]
    assert frozen and all(torch.equal(state[k], coco_file[k]) for k in frozen)  # statistics stay the file's
    conv = "backbone.blocks.3.0.conv_pw.weight"
    assert (state[conv] - coco_file[conv]).abs().max() < 0.02  # a few small steps away from the file ...
    assert (torch.randn_like(state[conv]) * coco_file[conv].std() - coco_file[conv]).abs().max() > 0.1  # ... not random
    bias = state["class_net.predict.conv_pw.bias"]
    assert bias.shape == (9 * len(CLASS_NAMES),) and not torch.allclose(bias, torch.tensor(HEAD_PRIOR), atol=1e-4)


@pytest.mark.slow
def test_training_from_imagenet_starts_from_the_file(imagenet_file, tiny_splits, tmp_path):
    state, config = _trained_from(
        TrainConfig(pretrained="imagenet", norm="frozen_batch", lr=1e-3, **TINY), tiny_splits, tmp_path / "model.pt"
    )
    assert config["started_from"] == "imagenet"
    stats = [k for k in imagenet_file if k.startswith(("bn1.", "blocks.")) and k.endswith("running_var")]
    assert stats and all(torch.equal(state[f"backbone.{k}"], imagenet_file[k]) for k in stats)
    assert (state["backbone.conv_stem.weight"] - imagenet_file["conv_stem.weight"]).abs().max() < 0.02
    assert not torch.allclose(state["class_net.predict.conv_pw.bias"], torch.tensor(HEAD_PRIOR), atol=1e-4)


@pytest.mark.slow
def test_a_frozen_batch_checkpoint_warm_starts_and_keeps_its_statistics(coco_file, tiny_splits, tmp_path):
    warm = tmp_path / "warm.pt"
    save_checkpoint(
        warm,
        build_effdet(ARCH, 128, len(CLASS_NAMES), "frozen_batch", pretrained="coco"),
        {"arch": ARCH, "image_size": 128, "norm": "frozen_batch", "class_names": list(CLASS_NAMES)},
    )
    first = read_checkpoint(warm)["state_dict"]
    second, config = _trained_from(
        TrainConfig(init_from=str(warm), norm="frozen_batch", **TINY), tiny_splits, tmp_path / "second.pt"
    )
    assert config["started_from"] == str(warm)
    stats = [k for k in first if k.endswith("running_var")]
    assert stats and all(torch.equal(first[k], second[k]) for k in stats)
    assert not torch.equal(first["box_net.predict.conv_pw.weight"], second["box_net.predict.conv_pw.weight"])


@pytest.mark.slow
def test_synthetic_starts_from_the_pretrain_stage_model(tiny_checkpoint, tiny_splits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    SYNTHETIC_CHECKPOINT.parent.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, SYNTHETIC_CHECKPOINT)
    pretrain = read_checkpoint(SYNTHETIC_CHECKPOINT)["state_dict"]
    state, config = _trained_from(
        TrainConfig(pretrained="synthetic", lr=1e-6, **TINY), tiny_splits, tmp_path / "model.pt"
    )
    assert config["started_from"] == str(SYNTHETIC_CHECKPOINT)
    worst = max((state[k].float() - v.float()).abs().max().item() for k, v in pretrain.items())
    assert worst < 1e-3  # lr 1e-6: the run ends where the pretraining left off, head included


def _stage_exit(tmp_path, monkeypatch, capsys, train_params: dict) -> tuple[int, str]:
    """Run stages/train.py round1 in this process (the network block applies) in a repo holding only params."""
    params = {
        "train": {"arch": ARCH, "image_size": 128, **train_params},
        "split": {"version": "v1"},
        "rounds": {"round1": {"train": {}}},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "stages/train.py",
            "round1",
            "data/splits/v1/train.json",  # as dvc.yaml passes
            "data/splits/v1/val.json",
            "models/round1",
            "metrics/train/round1",
        ],
    )
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "stages" / "train.py"), run_name="__main__")
    return exit_.value.code, capsys.readouterr().err


def test_the_train_stage_exits_2_with_one_line_when_coco_weights_are_offline(torch_home, tmp_path, monkeypatch, capsys):
    code, err = _stage_exit(tmp_path, monkeypatch, capsys, {"pretrained": "coco", "norm": "frozen_batch"})
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("train@round1: train.pretrained: coco needs") and COCO_URL in err


def test_the_train_stage_exits_2_when_the_synthetic_pretraining_is_missing(tmp_path, monkeypatch, capsys):
    code, err = _stage_exit(tmp_path, monkeypatch, capsys, {"pretrained": "synthetic"})
    assert code == 2 and err.count("\n") == 1 and "dvc repro pretrain" in err


def test_the_train_stage_exits_2_on_a_norm_that_would_discard_the_weights(tmp_path, monkeypatch, capsys):
    code, err = _stage_exit(tmp_path, monkeypatch, capsys, {"pretrained": "imagenet", "norm": "group"})
    assert code == 2 and err.count("\n") == 1 and "frozen_batch" in err


def test_synthetic_resolves_to_the_pretrain_artifact_that_round_training_depends_on():
    dvc = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())
    assert Path(dvc["artifacts"]["pretrain"]["path"]) == SYNTHETIC_CHECKPOINT
    assert str(SYNTHETIC_CHECKPOINT) in dvc["stages"]["pretrain"]["outs"]
    assert str(SYNTHETIC_CHECKPOINT) in dvc["stages"]["train"]["do"]["deps"]
    assert next(iter(dvc["artifacts"])) == "model"  # `rpsdet publish` without --name still publishes the detector


def test_a_ray_worker_finds_the_synthetic_pretraining_from_its_own_folder(tmp_path, monkeypatch):
    """Ray Train runs workers in a folder of their own: the job they get names the start by its absolute path."""
    monkeypatch.chdir(tmp_path)
    SYNTHETIC_CHECKPOINT.parent.mkdir(parents=True)
    SYNTHETIC_CHECKPOINT.touch()  # only its place matters here
    job = TrainJob(TrainConfig(pretrained="synthetic"), Path("t.json"), Path("v.json"), Path("m.pt")).absolute()
    assert job.cfg.init_from == str(tmp_path / SYNTHETIC_CHECKPOINT)
    monkeypatch.chdir(tmp_path.parent)
    assert start_point(job.cfg.pretrained, job.cfg.init_from).checkpoint.is_file()
    local = TrainJob(TrainConfig(init_from="models/pretrain/model.pt"), Path("t.json"), Path("v.json"), Path("m.pt"))
    monkeypatch.chdir(tmp_path)
    assert local.absolute().cfg.init_from == str(tmp_path / "models" / "pretrain" / "model.pt")
