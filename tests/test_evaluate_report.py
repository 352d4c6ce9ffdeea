"""The evaluation job on a real (briefly trained) model: every artefact exists and agrees with the others."""
import json

import pandas as pd
import pytest

from rpsdet.data.coco import read_coco
from rpsdet.evaluate.coco_metrics import coco_metrics
from rpsdet.evaluate.report import EvalOutputs, evaluate_model
from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.model.predict import Detector
from rpsdet.train.loop import TrainConfig, train


@pytest.mark.slow
def test_report_artefacts_are_complete_and_consistent(tiny_splits, tmp_path):
    cfg = TrainConfig(epochs=2, image_size=128, batch_size=4, warmup_steps=3, eval_every=2, threads=2)
    train(cfg, tiny_splits / "train.json", tiny_splits / "val.json", tmp_path / "model.pt")
    out = EvalOutputs(tmp_path / "eval", tmp_path / "eval.json", tmp_path / "slices.json", tmp_path / "plots")
    test_json = tiny_splits / "test.json"
    metrics = evaluate_model(Detector.from_checkpoint(tmp_path / "model.pt"), test_json, out, 0.05, SliceThresholds())

    records = read_coco(test_json)
    predictions = json.loads((out.data_dir / "predictions.json").read_text())
    ground_truth = json.loads((out.data_dir / "ground_truth.json").read_text())
    assert coco_metrics(ground_truth, predictions)["map50"] == metrics["map50"]  # anyone can recompute it

    table = pd.read_csv(out.data_dir / "per_image.csv")
    assert len(table) == len(records) == metrics["images"]
    assert table["errors"].is_monotonic_decreasing  # worst first
    assert table["tp"].sum() == metrics["tp"] and table["fn"].sum() == metrics["fn"]
    assert table["gt"].sum() == metrics["tp"] + metrics["fn"] + metrics["wrong_class"]

    slices = json.loads(out.slices_file.read_text())
    objects = [v["images"] for k, v in slices.items() if k in ("objects==0", "objects==1", "objects==2", "objects>=3")]
    assert sum(objects) == len(records)
    assert all(0.0 <= (v["map50"] or 0.0) <= 1.0 for v in slices.values())

    confusion = pd.read_csv(out.plots_dir / "confusion.csv")
    assert (confusion["actual"] != "background").sum() == table["gt"].sum()
    for name in ("rock", "paper", "scissors"):
        assert (out.plots_dir / "pr" / f"{name}.csv").is_file()

    page = (out.data_dir / "gallery" / "index.html").read_text()
    assert page.count('class="card') == len(records) and "http" not in page  # no CDN: opens offline
    assert len(list((out.data_dir / "gallery" / "full").glob("*.jpg"))) == len(records)
