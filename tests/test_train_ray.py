"""train.run_on ray: two real DDP workers on a private local Ray share the batches; rank 0 alone saves and logs."""

import csv
import json
import math
import os

import pytest

from rpsdet.data.coco import read_coco
from rpsdet.evaluate.inference import evaluate_dataset
from rpsdet.model.checkpoint import read_torch_file
from rpsdet.model.predict import Detector
from rpsdet.train.fit import fit
from rpsdet.train.job import TrainJob
from rpsdet.train.loop import TrainConfig

TINY = dict(image_size=128, batch_size=4, warmup_steps=3, eval_every=1, ema_decay=0.9, lr=3e-3)


@pytest.mark.slow
def test_two_workers_share_the_steps_and_rank_0_alone_saves_and_logs(tiny_splits, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)  # a private local Ray, whatever the shell says
    cfg = TrainConfig(epochs=2, run_on="ray", ray_workers=2, use_gpu=False, **TINY)
    job = TrainJob(
        cfg,
        tiny_splits / "train.json",
        tiny_splits / "val.json",
        tmp_path / "model.pt",
        state_path=tmp_path / "last.pt",
        live_dir=tmp_path / "live",
        live_params={"round": "test"},
    )
    summary = fit(job)

    ranks = summary["ranks"]
    assert summary["world_size"] == 2 and [r["rank"] for r in ranks] == [0, 1]
    assert len({r["pid"] for r in ranks}) == 2 and os.getpid() not in {r["pid"] for r in ranks}
    # Each rank trained on its own half: 2 images of every global batch of 4, the same number of steps.
    per_rank_images = len(read_coco(tiny_splits / "train.json")) // 2
    assert summary["steps"] == 2 * (per_rank_images // 2)
    assert [r["batches"] for r in ranks] == [summary["steps"]] * 2
    cores_each = max(1, len(os.sched_getaffinity(0)) // 2)
    assert all(r["threads"] == cores_each and r["omp_num_threads"] == str(cores_each) for r in ranks)

    # Only rank 0 opened dvclive: one row per epoch, once.
    assert [r["logged"] for r in ranks] == [True, False]
    with open(tmp_path / "live" / "plots" / "metrics" / "train" / "loss.tsv") as fh:
        assert [int(row["step"]) for row in csv.DictReader(fh, delimiter="\t")] == [0, 1]
    assert json.loads((tmp_path / "live" / "metrics.json").read_text())["world_size"] == 2

    # The checkpoint is the usual one-file format: it loads, detects and scores.
    assert read_torch_file(tmp_path / "last.pt")["epoch"] == 2
    detector = Detector.from_checkpoint(tmp_path / "model.pt", backend="torch")
    metrics, _ = evaluate_dataset(detector, tiny_splits / "test.json")
    assert math.isfinite(metrics["map"]) and math.isfinite(metrics["map50"])


def test_ray_settings_are_checked_before_anything_starts():
    with pytest.raises(ValueError, match="divide by train.ray_workers=3"):
        TrainConfig.from_params({"run_on": "ray", "ray_workers": 3, "batch_size": 8})
    with pytest.raises(ValueError, match="train.run_on must be one of"):
        TrainConfig.from_params({"run_on": "spark"})
