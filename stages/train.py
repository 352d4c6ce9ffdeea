"""DVC stage: train one round's EfficientDet, select by val mAP, log with dvclive; resumable.

Usage: python stages/train.py ROUND
"""
import json
import sys
from pathlib import Path

from dvclive import Live

from rpsdet.params import load_params
from rpsdet.rounds import model_path, round_train_json, round_train_params
from rpsdet.train.loop import TrainConfig, resumable_state, train

name = sys.argv[1]
params = load_params()
train_params = round_train_params(params, name)
cfg = TrainConfig.from_params(train_params)
version = params["split"]["version"]
train_json = round_train_json(params, name)
state_path = model_path(name).with_name("last.pt")
resuming = resumable_state(state_path, cfg) is not None
with Live(f"metrics/train/{name}", dvcyaml=None, save_dvc_exp=False, resume=resuming) as live:
    live.log_params({"round": name, "train": train_params, "train_set": str(train_json), "split_version": version})
    summary = train(cfg, train_json, Path("data/splits") / version / "val.json", model_path(name), live,
                    data_version=f"{version}:{train_json}", state_path=state_path)
    for key, value in summary.items():
        if isinstance(value, (int, float)):
            live.summary[key] = value
print(json.dumps(summary))
