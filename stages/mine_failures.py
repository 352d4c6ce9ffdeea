"""DVC stage: choose a round's failure slice on the test set and select the training images in it.

The test figures come from the full or the leak-free test set (`failure_slice.leakage_view`), said in the outputs.
Usage: python stages/mine_failures.py EVAL_JSON SLICES_JSON PER_IMAGE_CSV TRAIN_JSON SELECTION_JSON SUMMARY_MD
"""

import argparse
from pathlib import Path

from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.failure_loop.mine import mine_failures
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("eval", "slices", "per_image", "train", "selection", "summary"):
        ap.add_argument(name, type=Path)
    args = ap.parse_args(argv)
    params = stage_params("failure_slice", "evaluate.slices")
    cfg = params["failure_slice"]
    print(
        mine_failures(
            eval_json=args.eval,
            slices_json=args.slices,
            per_image_csv=args.per_image,
            train_json=args.train,
            thresholds=SliceThresholds(**params["evaluate"]["slices"]),
            select=cfg["select"],
            min_images=cfg["min_images"],
            leakage_view=cfg["leakage_view"],
            selection_json=args.selection,
            summary_md=args.summary,
        )
    )


if __name__ == "__main__":
    main()
