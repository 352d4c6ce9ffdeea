"""DVC stage: evaluate one round's model on the test split: metrics, slices, plots, per-image table, gallery.

Every figure twice: on the full test set and on the leak-free one (without test images that copy a train image).
Usage: python stages/evaluate.py MODEL TEST_JSON DATA_DIR METRICS_JSON SLICES_JSON PLOTS_DIR
"""

import argparse
import json
from pathlib import Path

from rpsdet.evaluate.report import EvalOutputs, evaluate_checkpoint
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("model", "test", "data_dir", "metrics", "slices", "plots"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params("evaluate", "train.threads", "train.device")
    outputs = EvalOutputs(args.data_dir, args.metrics, args.slices, args.plots)
    metrics = evaluate_checkpoint(
        args.model,
        args.test,
        outputs,
        cfg=params["evaluate"],
        threads=params["train"]["threads"],
        device=params["train"]["device"],
    )
    headline = ("map", "map50", "map75", "ar100", "precision", "recall", "f1")
    print(f"full test set, {metrics['images']} images:", json.dumps({k: metrics[k] for k in headline}))
    leak_free = metrics["leak_free"]
    print(
        f"leak-free test set, {leak_free['images']} images ({metrics['leaked_images']} copies of training images "
        "left out):",
        json.dumps({k: leak_free[k] for k in headline}),
    )
    print(f"gallery: {outputs.data_dir / 'gallery' / 'index.html'}")


if __name__ == "__main__":
    main()
