"""DVC stage: overall and failure-slice mAP of every round given, and the deltas against the first.

The figures come from the full or the leak-free test set (`failure_slice.leakage_view`), recorded as `test_view`.
Usage: python stages/compare.py SELECTION_JSON OUT_JSON OUT_CSV --round NAME EVAL_JSON SLICES_JSON [--round ...]
"""

import argparse
import json
from pathlib import Path

from rpsdet.failure_loop.compare import compare_files
from rpsdet.params import stage_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    for name in ("selection", "json_out", "csv_out"):
        ap.add_argument(name, type=Path)
    ap.add_argument("--round", nargs=3, action="append", required=True, metavar=("NAME", "EVAL_JSON", "SLICES_JSON"))
    args = ap.parse_args(argv)
    leakage_view = stage_params("failure_slice.leakage_view")["failure_slice"]["leakage_view"]
    rounds = {name: (Path(metrics), Path(slices)) for name, metrics, slices in args.round}
    view, comparison = compare_files(
        selection_json=args.selection,
        rounds=rounds,
        leakage_view=leakage_view,
        json_out=args.json_out,
        csv_out=args.csv_out,
    )
    print(f"scored on the {view.label}: {view.why}")
    print(json.dumps(comparison["delta"]))


if __name__ == "__main__":
    main()
