"""DVC stage: versioned train/val/test split files that reference the validated images.

Usage: python stages/split.py TRAIN_SOURCE TEST_SOURCE OUT
"""

import argparse
from pathlib import Path

from rpsdet.data.split import write_splits
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("train", "test", "out"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    split = stage_params("split")["split"]
    counts = write_splits(args.train, args.test, args.out, split["train_ratio"], split["seed"])
    print(f"split {split['version']}: {counts}")


if __name__ == "__main__":
    main()
