"""DVC stage: the dataset health report of the validated train and test sources, and the train/test shift.

Prints a summary with a plain warning line for every measure where the test source differs a lot from train.
Usage: python stages/health.py TRAIN_JSON TEST_JSON METRICS_JSON PLOTS_DIR
"""

import argparse
from pathlib import Path

from rpsdet.data.health import write_health
from rpsdet.data.image_measures import SliceThresholds
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("train", "test", "metrics", "plots"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params("health", "evaluate.slices")
    lines = write_health(
        sources={"train": args.train, "test": args.test},
        thresholds=SliceThresholds(**params["evaluate"]["slices"]),
        workers=params["health"]["workers"],
        shift_warning=params["health"]["shift_warning"],
        json_out=args.metrics,
        plots_dir=args.plots,
    )
    print("\n".join(lines))
    print(f"written: {args.metrics}, plots in {args.plots}/ (dvc plots show)")


if __name__ == "__main__":
    main()
