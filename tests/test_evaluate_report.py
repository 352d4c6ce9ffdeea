"""The evaluation job on a real (briefly trained) model: every artefact exists and agrees with the others."""

import json

import pandas as pd
import pytest

from rpsdet.data.coco import read_coco, write_coco
from rpsdet.data.split import rebase
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
    detector = Detector.from_checkpoint(tmp_path / "model.pt")
    metrics = evaluate_model(detector, test_json, out, 0.05, SliceThresholds())

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

    # Nothing leaked: the leak-free figures are the full ones, side by side in the same files.
    assert metrics["leaked_images"] == 0 and metrics["leak_free"]["images"] == len(records)
    for key in ("map", "map50", "map75", "ar100", "per_class", "by_size", "precision", "recall", "f1", "tp", "fn"):
        assert metrics["leak_free"][key] == metrics[key], key
    assert all(m["leak_free"] == {k: v for k, v in m.items() if k != "leak_free"} for m in slices.values())
    assert not table["leaked"].any()

    # Three test images flagged by validation as copies of train images: evaluated both ways.
    leaky = rebase(records, tiny_splits, tmp_path)
    for rec in leaky[:3]:
        rec.flags["leakage"] = {"reference": "images/train_src_0001.jpg", "distance": 2, "kind": "near"}
    write_coco(tmp_path / "test_leaky.json", leaky)
    out2 = EvalOutputs(tmp_path / "eval2", tmp_path / "eval2.json", tmp_path / "slices2.json", tmp_path / "plots2")
    both = evaluate_model(detector, tmp_path / "test_leaky.json", out2, 0.05, SliceThresholds())
    assert both["map50"] == metrics["map50"] and both["images"] == len(records)  # top level: the full test set
    assert both["leaked_images"] == 3 and both["leak_free"]["images"] == len(records) - 3
    clean_ids = {r.id for r in leaky[3:]}
    clean_gt = {
        **ground_truth,
        "images": [i for i in ground_truth["images"] if i["id"] in clean_ids],
        "annotations": [a for a in ground_truth["annotations"] if a["image_id"] in clean_ids],
    }
    clean_dt = [d for d in predictions if d["image_id"] in clean_ids]
    assert coco_metrics(clean_gt, clean_dt)["map50"] == both["leak_free"]["map50"]
    table2 = pd.read_csv(out2.data_dir / "per_image.csv")
    assert table2["leaked"].sum() == 3 and table2.loc[~table2["leaked"], "tp"].sum() == both["leak_free"]["tp"]
    slices2 = json.loads(out2.slices_file.read_text())
    assert (
        sum(
            slices2[k]["leak_free"]["images"]
            for k in ("objects==0", "objects==1", "objects==2", "objects>=3")
            if k in slices2
        )
        == len(records) - 3
    )
    assert (out2.data_dir / "gallery" / "index.html").read_text().count('data-leaked="1"') == 3
