"""`rpsdet predict` and `rpsdet export-model`: use a registered model (or a checkpoint file) outside the pipeline.

`--model` is resolved by rpsdet.registry.versions.resolve_model, the same DVC/GTO lookup `serve` and `evaluate` use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rpsdet.cli_help import examples

DEFAULTS = {"predict": {"conf": 0.4, "batch_size": 8, "backend": "auto"}, "export_model": {"min_score": 0.05}}


def _params(path: str, section: str) -> dict[str, Any]:
    from rpsdet.params import load_params

    return {**DEFAULTS[section], **((load_params(path).get(section) or {}) if Path(path).is_file() else {})}


def _safe_name(text: str) -> str:
    return text.replace("/", "_").replace(":", "_")


def _run_name(args: argparse.Namespace, label: str) -> str:
    """`model@v0.1.0` for a registered version, the file's stem for a checkpoint file."""
    return label if Path(args.model).is_file() else _safe_name(f"{args.name}@{label}")


def _is_empty_or_new(folder: Path) -> bool:
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))


def output_folder(requested: str | None, default: Path) -> Path:
    """--out must be new or empty, so nothing a user has (least of all the photos being read) is overwritten;
    without --out, predict_runs/<model>, then <model>-2, -3... as earlier runs fill them."""
    if requested:
        out = Path(requested)
        if not _is_empty_or_new(out):
            raise ValueError(f"--out {out} exists and is not empty: name a new or empty folder")
        return out
    out, n = default, 1
    while not _is_empty_or_new(out):
        n += 1
        out = default.with_name(f"{default.name}-{n}")
    return out


def _predict(args: argparse.Namespace) -> int:
    from rpsdet.model.device import pick_device, set_threads
    from rpsdet.model.predict import Detector
    from rpsdet.predict.run import predict_inputs
    from rpsdet.predict.sources import expand_sources
    from rpsdet.registry.versions import resolve_model

    params = _params(args.params, "predict")
    conf = params["conf"] if args.conf is None else args.conf
    if not 0.0 <= conf < 1.0:
        raise ValueError(f"--conf must be in [0, 1), got {conf}")
    inputs, skipped = expand_sources(args.source)
    if not inputs:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped) or "no source given"
        raise ValueError(f"nothing to predict ({reasons})")
    checkpoint, label = resolve_model(Path(args.repo), args.name, args.model)
    out = output_folder(args.out, Path("predict_runs") / _run_name(args, label))
    set_threads(0)
    detector = Detector.from_checkpoint(checkpoint, str(pick_device("auto")), params["backend"])
    report = predict_inputs(detector, inputs, skipped, out, conf, int(params["batch_size"]))
    print(report.summary_line())
    if report.skipped:
        print(f"skipped {len(report.skipped)} of the inputs (each also in {out / 'summary.csv'}):", file=sys.stderr)
        for s in report.skipped:
            print(f"  {s.path}: {s.reason}", file=sys.stderr)
        return 1
    return 0


def _export_model(args: argparse.Namespace) -> int:
    from rpsdet.model.export import export_checkpoint
    from rpsdet.registry.versions import resolve_model

    checkpoint, label = resolve_model(Path(args.repo), args.name, args.model)
    suffix = ".onnx" if args.format == "onnx" else ".xml"
    name = _run_name(args, label)
    out = Path(args.out) if args.out else Path("exports") / name / f"model{suffix}"
    min_score = _params(args.params, "export_model")["min_score"] if args.min_score is None else args.min_score
    result = export_checkpoint(checkpoint, out, args.format, min_score, source=name)
    for path in result.files:
        size = path.stat().st_size
        print(f"{path}  {size / 2**20:.1f} MiB" if size >= 2**20 else f"{path}  {size / 2**10:.1f} KiB")
    meta = result.metadata
    print(
        f"inputs: images uint8 {meta['inputs']['images']['shape']} RGB letterboxed, original_size (width, height)\n"
        f"outputs: boxes (original pixels), scores, labels ({', '.join(meta['class_names'])}): keep score > conf\n"
        "README 'Predict and export' has the lines that run it without rpsdet"
    )
    return 0


def add_predict_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="detect hands in images, folders, glob patterns or videos; draw and list them",
        **examples(
            "rpsdet predict ~/Pictures/hands --model prod",
            "rpsdet predict 'shots/*.jpg' clip.mp4 --model v0.1.0 --conf 0.5 --out /tmp/pred",
            "rpsdet predict photo.jpg --model models/round2/model.pt",
        ),
    )
    p.add_argument(
        "source",
        nargs="+",
        help="image files, folders (searched recursively), quoted glob patterns "
        "('photos/*.jpg') or video files (.mp4 .avi .mov ...)",
    )
    p.add_argument("--model", default="prod", help="a stage (default prod), a version (v0.1.0) or a checkpoint file")
    p.add_argument("--conf", type=float, help="score threshold (params predict.conf, default 0.4)")
    p.add_argument("--out", help="a new or empty folder (default predict_runs/<name>@<version> or <file stem>)")
    p.add_argument("--name", default="model", help="artifact name (default model)")
    p.add_argument("--repo", default=".", help="the git + DVC repository holding the registry")
    p.add_argument("--params", default="params.yaml", help="predict.* settings come from here if it exists")
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "export-model",
        help="write a model as one ONNX or OpenVINO file that runs without rpsdet",
        **examples(
            "rpsdet export-model --format onnx --model prod",
            "rpsdet export-model --format openvino --model v0.1.0 --out /tmp/rps/model.xml",
            "rpsdet export-model --format onnx --model models/round2/model.pt --min-score 0.1",
        ),
    )
    p.add_argument("--format", choices=("onnx", "openvino"), required=True)
    p.add_argument("--model", default="prod", help="a stage (default prod), a version (v0.1.0) or a checkpoint file")
    p.add_argument("--out", help="the .onnx or .xml file (default exports/<name>@<version>/model.onnx|.xml)")
    p.add_argument(
        "--min-score",
        type=float,
        help="candidates at or below it skip NMS inside the graph (params export_model.min_score, 0.05)",
    )
    p.add_argument("--name", default="model", help="artifact name (default model)")
    p.add_argument("--repo", default=".", help="the git + DVC repository holding the registry")
    p.add_argument("--params", default="params.yaml", help="export_model.* settings come from here if it exists")
    p.set_defaults(func=_export_model)
