"""Tiny real training runs: the loss falls, and an interrupted run resumes to the same epoch count."""

import csv

import pytest
from dvclive import Live

from rpsdet.model.checkpoint import load_checkpoint, read_torch_file
from rpsdet.train.loop import TrainConfig, resumable_state, train

TINY = dict(image_size=128, batch_size=4, warmup_steps=3, eval_every=1, ema_decay=0.9, threads=2)


def _losses(live_dir):
    with open(live_dir / "plots" / "metrics" / "train" / "loss.tsv") as fh:
        return [float(row["loss"]) for row in csv.DictReader(fh, delimiter="\t")]


@pytest.mark.slow
def test_loss_falls_and_the_best_checkpoint_loads(tiny_splits, tmp_path):
    cfg = TrainConfig(epochs=4, lr=3e-3, **TINY)
    with Live(str(tmp_path / "live"), dvcyaml=None, save_dvc_exp=False) as live:
        summary = train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt", live=live)
    losses = _losses(tmp_path / "live")
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]
    model, config, ckpt = load_checkpoint(tmp_path / "model.pt")
    assert config["image_size"] == 128 and config["class_names"] == ["rock", "paper", "scissors"]
    assert ckpt["epoch"] == summary["best_epoch"]


class Interrupt(Exception):
    pass


def _stop_after(n):
    def hook(epoch):
        if epoch == n:
            raise Interrupt

    return hook


@pytest.mark.slow
def test_an_interrupted_run_resumes_and_ends_with_the_same_epoch_count(tiny_splits, tmp_path):
    cfg = TrainConfig(epochs=3, lr=2e-3, **TINY)
    args = (tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt")
    with pytest.raises(Interrupt):
        train(cfg, *args, state_path=tmp_path / "last.pt", on_epoch_end=_stop_after(1))
    assert read_torch_file(tmp_path / "last.pt")["epoch"] == 1
    (tmp_path / "model.pt").unlink()  # DVC deletes a stage's outputs before rerunning it
    epochs_seen = []
    summary = train(cfg, *args, state_path=tmp_path / "last.pt", on_epoch_end=epochs_seen.append)
    assert epochs_seen == [2, 3]
    assert summary["epochs_run"] == 3 and summary["steps"] == 3 * (len(_records(tiny_splits)) // 4)
    assert (tmp_path / "model.pt").is_file()

    # A changed config does not resume from a stale state: it starts over.
    epochs_seen.clear()
    train(
        TrainConfig(epochs=2, lr=2e-3, **TINY), *args, state_path=tmp_path / "last.pt", on_epoch_end=epochs_seen.append
    )
    assert epochs_seen == [1, 2]


@pytest.mark.slow
def test_stop_when_ends_a_mosaic_run_after_the_epoch_it_says(tiny_splits, tmp_path):
    """bench_time_to_map.py's hook: it sees val mAP50 and training seconds, and True stops the loop."""
    seen = []

    def stop(epoch, stats):
        seen.append(stats)
        return epoch == 2

    cfg = TrainConfig(epochs=4, lr=2e-3, mosaic=1.0, **TINY)
    summary = train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt", stop_when=stop)
    assert summary["epochs_run"] == 2 and len(seen) == 2 and (tmp_path / "model.pt").is_file()
    assert all("val/map50" in stats for stats in seen)
    assert 0 < seen[0]["train_seconds"] < seen[1]["train_seconds"] == pytest.approx(summary["train_seconds"], abs=0.01)


def _records(splits):
    from rpsdet.data.coco import read_coco

    return read_coco(splits / "train.json")


@pytest.mark.slow
def test_a_time_budget_ends_the_run_at_its_lr_floor_and_a_resumed_run_spends_only_what_is_left(tiny_splits, tmp_path):
    """train.max_minutes: interrupted a third of the way, resumed, the run stops at the first step past the
    budget (not after train.epochs), with the lr at its floor, one last evaluation and its checkpoint."""
    budget_s = 12.0
    # eval_every: the only evaluation is the one that ends the run. One thread: on a busy shared machine two
    # threads spin against each other and a step can take 20x longer.
    cfg = TrainConfig(
        epochs=1, max_minutes=budget_s / 60, lr=2e-3, min_lr_ratio=0.05, **{**TINY, "eval_every": 1000, "threads": 1}
    )
    args = (tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt")
    first, second = [], []

    def record(into, interrupt_after_s=None):
        def hook(epoch, stats):  # called after each epoch, once its state is saved
            into.append((epoch, stats))
            if interrupt_after_s is not None and stats["train_seconds"] >= interrupt_after_s:
                raise Interrupt
            return False

        return hook

    with pytest.raises(Interrupt):
        train(cfg, *args, state_path=tmp_path / "last.pt", stop_when=record(first, budget_s / 3))
    spent_before = read_torch_file(tmp_path / "last.pt")["train_seconds"]
    assert budget_s / 3 <= spent_before < budget_s and spent_before == pytest.approx(first[-1][1]["train_seconds"])
    assert not (tmp_path / "model.pt").exists()  # no evaluation yet, so no checkpoint

    summary = train(cfg, *args, state_path=tmp_path / "last.pt", stop_when=record(second))
    epochs = [epoch for epoch, _ in second]
    assert epochs == list(range(len(first) + 1, summary["epochs_run"] + 1)) and summary["epochs_run"] > len(first)
    # The resumed run spent only what was left, and stopped at the first step past the budget.
    seconds = [stats["train_seconds"] for _, stats in first + second]
    steps_per_epoch = len(_records(tiny_splits)) // 4
    mean_step_s = (seconds[-1] - spent_before) / (summary["steps"] - len(first) * steps_per_epoch)
    assert seconds[-2] < budget_s <= seconds[-1] == pytest.approx(summary["train_seconds"], abs=0.01)
    assert seconds[-1] - budget_s <= max(1.0, 3 * mean_step_s)
    lrs = [stats["train/lr"] for _, stats in first + second]
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:]))  # decays over the whole budget, across the resume
    assert lrs[0] > 5 * lrs[-1] and lrs[-1] == pytest.approx(cfg.lr * cfg.min_lr_ratio)
    assert [e for e, stats in second if "val/map50" in stats] == [summary["epochs_run"]]  # one last evaluation
    _, _, ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["epoch"] == summary["best_epoch"] == summary["epochs_run"] and "map50" in ckpt["val_metrics"]
    state = read_torch_file(tmp_path / "last.pt")
    assert state["epoch"] == summary["epochs_run"]
    assert state["train_seconds"] == pytest.approx(summary["train_seconds"], abs=0.01)
    assert resumable_state(tmp_path / "last.pt", cfg) is None  # a spent budget starts over next time


@pytest.mark.slow
def test_progressive_size_trains_small_first_then_evaluates_and_saves_at_full_size(tiny_splits, tmp_path, capsys):
    """train.progressive_size: epochs 1-2 of 4 at 64 px, 3-4 at 128 px, in one run: the same parameters go on
    training (optimizer, schedule and EMA carry on), only full-size epochs are scored, and the checkpoint is a
    128-px model whose detections match a network built at 128 px from its weights."""
    import numpy as np
    import torch

    from rpsdet.model.factory import build_effdet
    from rpsdet.model.predict import Detector
    from rpsdet.train.loop import build_run, input_size, set_input_size

    cfg = TrainConfig(epochs=4, lr=3e-3, progressive_size=64, progressive_fraction=0.5, **TINY)
    run = build_run(cfg, train_json=tiny_splits / "train.json", data_version="", dist=None)
    assert [input_size(run, e) for e in (1, 2, 3, 4)] == [64, 64, 128, 128] and run.size == 64
    params = [id(p) for p in run.model.parameters()]
    set_input_size(run, 128)
    assert [id(p) for p in run.model.parameters()] == params and run.model.config.image_size == [128, 128]
    assert run.loader.dataset.image_size == 128 and run.step_module.anchors.boxes.shape[0] > 0

    seen = []

    def record(epoch: int, stats: dict) -> bool:  # which epochs were evaluated; never stops the run
        seen.append((epoch, "val/map50" in stats))
        return False

    summary = train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt", stop_when=record)
    steps_per_epoch = len(_records(tiny_splits)) // 4
    assert f"train.progressive_size: training at 128 px from step {2 * steps_per_epoch}" in capsys.readouterr().out
    assert seen == [(1, False), (2, False), (3, True), (4, True)]
    assert summary["steps"] == 4 * steps_per_epoch
    model, config, _ = load_checkpoint(tmp_path / "model.pt")
    assert config["image_size"] == 128
    fresh = build_effdet("efficientdet_d0", 128, 3, "group")
    fresh.load_state_dict(model.state_dict())
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    names = ["rock", "paper", "scissors"]
    a = Detector(model, 128, names, "cpu").predict([image], 0.0)[0]
    b = Detector(fresh, 128, names, "cpu").predict([image], 0.0)[0]
    assert len(a) == len(b) > 0 and all(torch.allclose(torch.tensor(x.box), torch.tensor(y.box)) for x, y in zip(a, b))

    with pytest.raises(ValueError, match="progressive_size is the early input size"):
        TrainConfig.from_params({"image_size": 128, "progressive_size": 128})
    with pytest.raises(ValueError, match="progressive_fraction"):
        TrainConfig.from_params({"progressive_size": 128, "progressive_fraction": 1.0})
    with pytest.raises(ValueError, match="epochs >= 2"):
        TrainConfig.from_params({"progressive_size": 128, "epochs": 1})
