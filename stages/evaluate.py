"""DVC stage: evaluate one round's model on the test split: metrics, slices, plots, per-image table, gallery.

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
print(json.dumps({k: metrics[k] for k in ("map", "map50", "map75", "ar100", "precision", "recall", "f1")}))
print(f"gallery: {outputs.data_dir / 'gallery' / 'index.html'}")
