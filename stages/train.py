"""DVC stage: train one round's EfficientDet, select by val mAP, log with dvclive; resumable.

train.run_on picks where: this process (local) or DDP workers on Ray (ray); the outputs are the same.
Bad params or missing starting weights (train.pretrained offline) end in one line on stderr and exit code 2.

Usage: python stages/train.py ROUND
"""
import json
import sys
from pathlib import Path

from rpsdet.params import load_params
from rpsdet.rounds import model_path, round_train_json, round_train_params
from rpsdet.train.job import TrainJob, checked_config, fit

name = sys.argv[1]
params = load_params()
train_params = round_train_params(params, name)
cfg = checked_config(train_params, f"train@{name}")
version = params["split"]["version"]
train_json = round_train_json(params, name)
job = TrainJob(cfg, train_json, Path("data/splits") / version / "val.json", model_path(name),
               state_path=model_path(name).with_name("last.pt"), live_dir=Path(f"metrics/train/{name}"),
               live_params={"round": name, "train": train_params, "train_set": str(train_json),
                            "split_version": version},
               data_version=f"{version}:{train_json}")
print(json.dumps(fit(job)))
