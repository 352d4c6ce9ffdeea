"""DVC stage: validate one side of `data.source` (SOURCE/SIDE) into OUT; sides other than train are also checked
against SOURCE/train for leakage.

Usage: python stages/validate.py SIDE SOURCE OUT METRICS_JSON
"""

import argparse
from pathlib import Path

from rpsdet.params import stage_params
from rpsdet.validate.report import summary_table
from rpsdet.validate.run import validate_side


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("side")
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("metrics", type=Path)
    args = ap.parse_args(argv)
    params = stage_params("classes", "validate")
    summary = validate_side(source=args.source, side=args.side, out=args.out, metrics_json=args.metrics, params=params)
    print(summary_table(summary))


if __name__ == "__main__":
    main()
