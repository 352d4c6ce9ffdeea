"""`rpsdet` command line: the library's entry points for people (DVC stages call the same functions)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _synth(args: argparse.Namespace) -> int:
    from rpsdet.data.synth import write_source

    stats = write_source(Path(args.out), prefix=args.prefix or Path(args.out).name, count=args.count,
                         multi_fraction=args.multi_fraction, seed=args.seed, width=args.width, height=args.height,
                         max_hands=args.max_hands)
    print(json.dumps(stats, indent=1))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from rpsdet.params import load_params
    from rpsdet.validate.voc_source import validate_voc_source

    aliases = load_params(args.params).get("classes", {}).get("aliases") if Path(args.params).is_file() else None
    summary = validate_voc_source(Path(args.src), Path(args.out), aliases)
    print(json.dumps(summary, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rpsdet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="draw a synthetic rock/paper/scissors source in PASCAL VOC layout")
    p.add_argument("out", help="output folder (JPEGImages/ + Annotations/)")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--multi-fraction", type=float, default=0.1, help="share of images with 2..max hands")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--max-hands", type=int, default=4)
    p.add_argument("--prefix", default=None, help="image name prefix (default: the folder name)")
    p.set_defaults(func=_synth)

    p = sub.add_parser("validate", help="check a VOC source; write a clean canonical dataset + report")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--params", default="params.yaml", help="read classes.aliases from here if it exists")
    p.set_defaults(func=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"rpsdet {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
