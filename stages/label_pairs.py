"""DVC stage: near-duplicate pairs whose labels disagree (no model), right after validation.

Usage: python stages/label_pairs.py TRAIN_JSON TEST_JSON OUT METRICS_JSON
"""

import argparse
from pathlib import Path

from rpsdet.label_quality.run import label_pairs
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("train", "test", "out", "metrics"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    cfg = stage_params("label_quality.pair_iou")["label_quality"]
    print(
        label_pairs(
            validated={"train": args.train, "test": args.test},
            pair_iou=cfg["pair_iou"],
            out=args.out,
            metrics_json=args.metrics,
        )
    )


if __name__ == "__main__":
    main()
