"""DVC stage: choose round 1's failure slice on the test set and select the training images in it.

The test figures come from the full or the leak-free test set (`failure_slice.leakage_view`), said in the outputs.
"""
import json
from pathlib import Path

import pandas as pd

from rpsdet.evaluate.leakage import resolve_view, view_metrics, view_rows, view_slices
from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.failure_loop.mine import choose_slice, rank_slices, select_training_images, summary_markdown
from rpsdet.files import write_json
from rpsdet.params import load_params
from rpsdet.rounds import round_train_json

params = load_params()
cfg = params["failure_slice"]
eval_metrics = json.loads(Path("metrics/eval_round1.json").read_text())
view = resolve_view(cfg["leakage_view"], eval_metrics)
ranked = rank_slices(view_slices(json.loads(Path("metrics/slices_round1.json").read_text()), view),
                     view_metrics(eval_metrics, view)["map50"],
                     view_rows(pd.read_csv("data/eval/round1/per_image.csv"), view))
rule, why = choose_slice(cfg["select"], ranked, cfg["min_images"])
train_json = round_train_json(params, "round1")
selected = select_training_images(train_json, rule, SliceThresholds(**params["evaluate"]["slices"]))
n_train = len(json.loads(train_json.read_text())["images"])
write_json(Path("data/mined/round1/selection.json"), {
    "rule": str(rule), "why": why, "test_view": {"name": view.name, "why": view.why}, "train_json": str(train_json),
    "train_image_ids": [r.id for r in selected], "ranking": [s.as_dict() for s in ranked]})
Path("metrics/failure_slice.md").write_text(summary_markdown(rule, why, ranked, len(selected), n_train, view))
print(f"failure slice {rule} (scored on the {view.label}): {why}; {len(selected)} of {n_train} training images "
      "selected")
