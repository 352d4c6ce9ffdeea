"""DVC stage: evaluate one round's model on the test split: metrics, slices, plots, per-image table, gallery.

Every figure twice: on the full test set and on the leak-free one (without test images that copy a train image).

Usage: python stages/evaluate.py ROUND
"""
import json
import sys
from pathlib import Path

from rpsdet.evaluate.report import EvalOutputs, evaluate_model
from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.model.device import pick_device, set_threads
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.rounds import model_path

name = sys.argv[1]
params = load_params()
cfg = params["evaluate"]
set_threads(params["train"]["threads"])
device = str(pick_device(params["train"]["device"]))
detector = Detector.from_checkpoint(model_path(name), device, cfg["backend"])
outputs = EvalOutputs(Path("data/eval") / name, Path(f"metrics/eval_{name}.json"), Path(f"metrics/slices_{name}.json"),
                      Path(f"metrics/eval_{name}"))
metrics = evaluate_model(detector, Path("data/splits") / params["split"]["version"] / "test.json", outputs,
                         cfg["score_threshold"], SliceThresholds(**cfg["slices"]), gallery=cfg["gallery"])
headline = ("map", "map50", "map75", "ar100", "precision", "recall", "f1")
print(f"full test set, {metrics['images']} images:", json.dumps({k: metrics[k] for k in headline}))
leak_free = metrics["leak_free"]
print(f"leak-free test set, {leak_free['images']} images ({metrics['leaked_images']} copies of training images left "
      "out):", json.dumps({k: leak_free[k] for k in headline}))
print(f"gallery: {outputs.data_dir / 'gallery' / 'index.html'}")
