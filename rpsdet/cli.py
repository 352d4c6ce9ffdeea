"""`rpsdet` command line: the library's entry points for people (DVC stages call the same functions)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rpsdet.cli_help import OVERVIEW, examples
from rpsdet.data.formats import FORMATS


def _synth(args: argparse.Namespace) -> int:
    from rpsdet.data.realistic import write_roboflow_export
    from rpsdet.data.synth import write_source

    if args.style == "roboflow":
        print(json.dumps(write_roboflow_export(Path(args.out), frames=args.count, seed=args.seed), indent=1))
        return 0
    stats = write_source(
        Path(args.out),
        prefix=args.prefix or Path(args.out).name,
        count=args.count,
        multi_fraction=args.multi_fraction,
        seed=args.seed,
        width=args.width,
        height=args.height,
        max_hands=args.max_hands,
    )
    print(json.dumps(stats, indent=1))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from rpsdet.params import load_params
    from rpsdet.validate.config import ValidateConfig
    from rpsdet.validate.report import summary_table
    from rpsdet.validate.run import validate_source

    params = load_params(args.params) if Path(args.params).is_file() else {}
    overrides = {"format": args.format} if args.format else {}
    if args.reference:
        overrides["reference"] = Path(args.reference)
    if args.unlabelled:
        overrides["unlabelled"] = args.unlabelled
    summary = validate_source(Path(args.src), Path(args.out), ValidateConfig.from_params(params, **overrides))
    print(summary_table(summary))
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return 0


def _import(args: argparse.Namespace) -> int:
    from rpsdet.data.import_summary import summary_text
    from rpsdet.data.importer import check_name, ignore_in_git, import_export
    from rpsdet.params import load_params, set_param

    dest = Path("data/imports") / check_name(args.name)
    params = Path(args.params)
    settings = load_params(params) if params.is_file() else {}
    aliases = (settings.get("classes") or {}).get("aliases") or {}
    plan, notes = import_export(Path(args.src), dest, args.format, args.test_ratio, args.force)
    ignore_in_git(dest)
    print(summary_text(Path(args.src), dest, plan, notes, aliases))
    if params.is_file():
        set_param(params, "data", "source", str(dest))
        print(f"{params}: data.source is now {dest}")
    else:
        print(f"{params} not found: set data.source: {dest} in the project's params.yaml")
    print(
        f"next:\n  dvc add {dest}   # version the import (optional; {dest.parent}/.gitignore already keeps it "
        "out of git)\n  dvc repro   # validate train and test, split, train, evaluate on it"
    )
    print(f"  # {_round1_start(settings)}")
    return 0


def _round1_start(params: dict) -> str:
    """Where train@round1 starts on the import: rounds.round1.train.pretrained, else train.pretrained."""
    round1 = ((params.get("rounds") or {}).get("round1") or {}).get("train") or {}
    start = round1.get("pretrained") or (params.get("train") or {}).get("pretrained") or "none"
    if start == "synthetic":
        return (
            "train@round1 fine-tunes the synthetic pretraining (train.pretrained: synthetic = models/pretrain/"
            "model.pt, trained once offline by the pretrain stage and reused by every import)"
        )
    if start == "none":
        return (
            "train@round1 starts from random weights (train.pretrained: none); set rounds.round1.train."
            "pretrained: synthetic to fine-tune the synthetic pretraining (README: Start from pretrained weights)"
        )
    return (
        f"train@round1 starts from the {start} weights (train.pretrained: {start}), fetched once into the "
        f"library's cache (README: Start from pretrained weights)"
    )


def _export(args: argparse.Namespace) -> int:
    from rpsdet.data.exporter import export_dataset

    print(json.dumps(export_dataset(Path(args.dataset), Path(args.out), args.format, Path(args.root)), indent=1))
    return 0


def _summary(args: argparse.Namespace) -> int:
    from rpsdet.evaluate.summary import write_summary

    print(write_summary(Path(args.root), Path(args.out) if args.out else None))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rpsdet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "synth",
        help="draw a synthetic rock/paper/scissors source (PASCAL VOC), or a realistic "
        "Roboflow YOLOv8 export of video frames (--style roboflow)",
        **examples(
            "rpsdet synth data/raw/mine --count 200 --multi-fraction 0.4 --seed 1",
            "rpsdet synth hands.v1i.yolov8 --style roboflow --count 300",
        ),
    )
    p.add_argument(
        "out", help="output folder (voc: JPEGImages/ + Annotations/; roboflow: train/ valid/ test/ + data.yaml)"
    )
    p.add_argument(
        "--style",
        choices=("voc", "roboflow"),
        default="voc",
        help="roboflow: 640x640 frames of short videos, ~35 %% backgrounds, train augmented 3x, test "
        "frames from the same videos (only --count and --seed apply)",
    )
    p.add_argument("--count", type=int, default=100, help="images (roboflow: source frames, before augmentation)")
    p.add_argument("--multi-fraction", type=float, default=0.1, help="share of images with 2..max hands")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--max-hands", type=int, default=4)
    p.add_argument("--prefix", default=None, help="image name prefix (default: the folder name)")
    p.set_defaults(func=_synth)

    p = sub.add_parser(
        "validate",
        help="check a VOC / COCO / YOLO source; write a clean canonical dataset + report",
        **examples(
            "rpsdet validate data/raw/synthetic/train /tmp/train_checked",
            "rpsdet validate data/raw/synthetic/test /tmp/test_checked --reference data/raw/synthetic/train",
            "rpsdet validate hands.v1i.yolov8/test /tmp/hands_test --unlabelled keep --metrics /tmp/hands_test.json",
        ),
    )
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--params", default="params.yaml", help="read validate.* and classes.aliases from here if it exists")
    p.add_argument("--format", choices=tuple(FORMATS), default=None, help="skip format detection")
    p.add_argument("--reference", default=None, help="a train source to check this one against for leakage")
    p.add_argument(
        "--unlabelled",
        choices=("quarantine", "keep"),
        default=None,
        help="VOC / COCO images without any annotation: quarantine them (default) or keep them as "
        "background images (overrides validate.unlabelled)",
    )
    p.add_argument("--metrics", default=None, help="also write the summary JSON here")
    p.set_defaults(func=_validate)

    p = sub.add_parser(
        "import",
        help="copy a labeling tool's export into data/imports/NAME and make it data.source",
        **examples(
            "rpsdet import ~/Downloads/hands.v3i.yolov8 --name hands",
            "rpsdet import ~/exports/task_hands --name cvat-hands --format voc --test-ratio 0.25",
            "rpsdet import ~/Downloads/hands.v4i.yolov8 --name hands --force",
        ),
    )
    p.add_argument("src", help="the exported folder (VOC, COCO or YOLO; Roboflow train/valid/test folders kept)")
    p.add_argument("--name", required=True, help="folder name under data/imports/")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto")
    p.add_argument(
        "--test-ratio",
        type=float,
        default=0.2,
        help="share of images sent to test when the export has no test folder (by a hash of the path)",
    )
    p.add_argument("--params", default="params.yaml", help="classes.aliases are read and data.source set here")
    p.add_argument("--force", action="store_true", help="replace data/imports/NAME if it exists")
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "export",
        help="write a validated dataset or split file as a VOC / COCO / YOLO export",
        **examples(
            "rpsdet export data/validated/test /tmp/test_voc --format voc",
            "rpsdet export data/splits/v1/train.json /tmp/train_yolo --format yolo",
        ),
    )
    p.add_argument("dataset", help="data/validated/<side>, or a split file such as data/splits/v1/test.json")
    p.add_argument("out", help="a new or empty folder")
    p.add_argument("--format", choices=tuple(FORMATS), required=True)
    p.add_argument(
        "--root",
        default=".",
        help="images must lie inside the dataset's folder or this one (default: the current folder, the project)",
    )
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "summary",
        help="the end of a run in one screen: round 1 / control / round 2, validation "
        "counts, where the gallery and plots are (also metrics/summary.md)",
        **examples("rpsdet summary", "rpsdet summary --root ../rpsdet-exp --out /tmp/exp_summary.md"),
    )
    p.add_argument("--root", default=".", help="the project folder whose metrics/ and data/ are read")
    p.add_argument("--out", help="markdown copy (default ROOT/metrics/summary.md)")
    p.set_defaults(func=_summary)

    from rpsdet.predict.commands import add_predict_commands  # predict, export-model
    from rpsdet.registry.commands import add_registry_commands  # publish, models, evaluate --model
    from rpsdet.serve.commands import add_serve_commands  # serve, users add

    add_registry_commands(sub)
    add_serve_commands(sub)
    add_predict_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a first look: what the tool does and the commands people use most
        print(OVERVIEW)
        return 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as exc:  # missing or unreadable files, bad content: a message, not a traceback
        print(f"rpsdet {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
