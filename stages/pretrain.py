"""DVC stage: synthetic pretraining, from random weights on data/pretrain/ -> models/pretrain/model.pt.

That checkpoint is the `pretrain` artifact (dvc.yaml) that `train.pretrained: synthetic` starts from. Params: the
network and where it runs come from `train:` (SHARED: round 1 loads these weights), the recipe from `pretrain.train:`
alone (TrainConfig's defaults beneath), so tuning `train.*` never reruns the pretraining. Resumable like the train
stage; metrics/pretrain.json records its val mAP and cost.
Usage: python stages/pretrain.py
"""
import json
import sys
from pathlib import Path

from rpsdet.files import write_json
from rpsdet.model.pretrained import SYNTHETIC_CHECKPOINT
from rpsdet.params import load_params
from rpsdet.train.job import TrainJob, checked_config, fit

SHARED = ("arch", "image_size", "threads", "device", "loader_workers", "run_on", "ray_workers", "use_gpu",
          "ray_address")

params = load_params()
train_params = {**{k: params["train"][k] for k in SHARED if k in params["train"]}, **params["pretrain"]["train"]}
if train_params.get("pretrained") == "synthetic":
    print("pretrain: pretrain.train.pretrained: synthetic would start from this stage's own output; use none, "
          "imagenet or coco", file=sys.stderr)
    raise SystemExit(2)
cfg = checked_config(train_params, "pretrain")
data = Path("data/pretrain")
job = TrainJob(cfg, data / "train" / "annotations.json", data / "val" / "annotations.json", SYNTHETIC_CHECKPOINT,
               state_path=SYNTHETIC_CHECKPOINT.with_name("last.pt"), live_dir=Path("metrics/train/pretrain"),
               live_params={"round": "pretrain", "train": train_params, "synth": params["pretrain"]["synth"]},
               data_version=f"pretrain:seed={params['pretrain']['synth']['seed']}")
summary = fit(job)
write_json(Path("metrics/pretrain.json"), {"map50": summary["best_val_map50"], "map": summary["best_val_map"],
                                           "steps": summary["steps"], "seconds": summary["seconds"],
                                           "train_seconds": summary["train_seconds"],
                                           "images_per_s": summary["images_per_s"]})
print(json.dumps(summary))
