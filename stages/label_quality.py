"""DVC stage: cleanlab label quality on the test split (every model of label_quality.models, none trained on
it, averaged) and, with train_folds > 0, on the train split by K-fold cross-validation; near-duplicate pairs
whose labels disagree join the same review queue.

Usage: python stages/label_quality.py SPLITS TRAIN_JSON TEST_JSON SOURCE OUT METRICS_JSON
"""

import argparse
from pathlib import Path

from rpsdet.label_quality.run import label_quality
from rpsdet.model.device import pick_device, set_threads
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("splits", "train", "test", "source", "out", "metrics"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params("label_quality", "train")
    set_threads(params["train"]["threads"])
    metrics = label_quality(
        cfg=params["label_quality"],
        splits=args.splits,
        validated={"train": args.train, "test": args.test},
        source=args.source,
        out=args.out,
        metrics_json=args.metrics,
        device=str(pick_device(params["train"]["device"])),
        train_params=params["train"],
    )
    print(metrics)


if __name__ == "__main__":
    main()
