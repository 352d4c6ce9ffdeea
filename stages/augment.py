"""DVC stage: augment the training images mining selected (params augment: brightness, blur, crop) into a new
training-set version.

Usage: python stages/augment.py SELECTION_JSON OUT METRICS_JSON
"""

import argparse
import json
from pathlib import Path

from rpsdet.failure_loop.augment import augment_mined
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("selection", "out", "metrics"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    counts = augment_mined(
        selection_json=args.selection,
        out_dir=args.out,
        cfg=stage_params("augment")["augment"],
        metrics_json=args.metrics,
    )
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
