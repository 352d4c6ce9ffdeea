"""DVC stage: train one round's EfficientDet, select by val mAP, log with dvclive; resumable.

train.run_on picks where: this process (local) or DDP workers on Ray (ray); the outputs are the same.
Bad params or missing starting weights (train.pretrained offline) end in one line on stderr and exit code 2.

Usage: python stages/train.py ROUND TRAIN_SET VAL_JSON MODEL_DIR LIVE_DIR
(TRAIN_SET: a COCO file, or a folder holding train.json; dvc.yaml gives each round its own)
"""

import argparse
import json
from pathlib import Path

from rpsdet.params import stage_params
from rpsdet.rounds import round_train_json, round_train_params
from rpsdet.train.fit import fit
from rpsdet.train.job import TrainJob, checked_config


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("round")
    for name in ("train_set", "val", "model_dir", "live"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params("train", f"rounds.{args.round}", "split.version")
    train_params = round_train_params(params, args.round)
    cfg = checked_config(train_params, f"train@{args.round}")
    version = params["split"]["version"]
    train_json = round_train_json(args.train_set)
    job = TrainJob(
        cfg,
        train_json,
        args.val,
        args.model_dir / "model.pt",
        state_path=args.model_dir / "last.pt",
        live_dir=args.live,
        live_params={
            "round": args.round,
            "train": train_params,
            "train_set": str(train_json),
            "split_version": version,
        },
        data_version=f"{version}:{train_json}",
    )
    print(json.dumps(fit(job)))


if __name__ == "__main__":
    main()
