"""DVC stage: synthetic pretraining, from random weights on DATA/{train,val} -> MODEL (the `pretrain` artifact that
`train.pretrained: synthetic` starts from). The network and where it runs come from `train:`, the recipe from
`pretrain.train:` alone (rpsdet.train.job.pretrain_params). Resumable like the train stage.

Usage: python stages/pretrain.py DATA MODEL METRICS_JSON LIVE_DIR
"""

import argparse
import json
from pathlib import Path

from rpsdet.files import write_json
from rpsdet.params import stage_params
from rpsdet.train.fit import fit
from rpsdet.train.job import PRETRAIN_SHARED, TrainJob, checked_config, pretrain_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("data", "model", "metrics", "live"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params(*(f"train.{k}" for k in PRETRAIN_SHARED), "pretrain.train", "pretrain.synth")
    train_params = pretrain_params(params["train"], params["pretrain"]["train"])
    cfg = checked_config(train_params, "pretrain")
    synth = params["pretrain"]["synth"]
    job = TrainJob(
        cfg,
        args.data / "train" / "annotations.json",
        args.data / "val" / "annotations.json",
        args.model,
        state_path=args.model.with_name("last.pt"),
        live_dir=args.live,
        live_params={"round": "pretrain", "train": train_params, "synth": synth},
        data_version=f"pretrain:seed={synth['seed']}",
    )
    summary = fit(job)
    write_json(
        args.metrics,
        {
            k: summary[v]
            for k, v in (
                ("map50", "best_val_map50"),
                ("map", "best_val_map"),
                ("steps", "steps"),
                ("seconds", "seconds"),
                ("train_seconds", "train_seconds"),
                ("images_per_s", "images_per_s"),
            )
        },
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
