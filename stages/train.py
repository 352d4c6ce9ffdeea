"""DVC stage: train EfficientDet on the split's train set, select by val mAP, log with dvclive."""
import json
from pathlib import Path

from dvclive import Live

from rpsdet.params import load_params
from rpsdet.train.loop import TrainConfig, train

params = load_params()
cfg = TrainConfig.from_params(params["train"])
splits = Path("data/splits") / params["split"]["version"]
with Live("metrics/train", dvcyaml=None, save_dvc_exp=False) as live:
    live.log_params({"train": params["train"], "split_version": params["split"]["version"]})
    summary = train(cfg, splits / "train.json", splits / "val.json", Path("models/model.pt"), live,
                    data_version=params["split"]["version"])
    for key, value in summary.items():
        if isinstance(value, (int, float)):
            live.summary[key] = value
print(json.dumps(summary))
