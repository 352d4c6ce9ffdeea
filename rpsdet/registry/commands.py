"""`rpsdet publish`, `rpsdet models [import]` and `rpsdet evaluate --model --data`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rpsdet.cli_help import examples


def _publish(args: argparse.Namespace) -> int:
    from rpsdet.params import load_params
    from rpsdet.registry.versions import declared_artifacts, publish

    repo = Path(args.repo)
    declared = declared_artifacts(repo)
    name = args.name or next(iter(declared), None)
    if name is None:
        raise ValueError(f"{repo / 'dvc.yaml'} declares no artifacts: add an `artifacts:` section")
    spec = declared.get(name, {})
    metrics = args.metrics or (spec.get("meta") or {}).get("metrics")
    params_file = repo / args.params
    params = load_params(params_file) if params_file.is_file() else {}
    recorded = {"train": params.get("train", {}), "split.version": params.get("split", {}).get("version")}
    tracked = f"{spec.get('path')}.dvc"  # a `dvc add`-ed artifact; pipeline outputs are covered by dvc.lock
    result = publish(
        repo,
        name,
        version=args.version,
        bump=args.bump,
        stage=args.stage,
        metrics_file=repo / metrics if metrics else None,
        params=recorded,
        extra_paths=[tracked] if (repo / tracked).exists() else [],
    )
    print(json.dumps(result, indent=1))
    return 0


def _models(args: argparse.Namespace) -> int:
    from rpsdet.registry.versions import list_versions

    rows = list_versions(Path(args.repo))
    if not rows:
        print("no registered versions yet: `rpsdet publish` registers the pipeline's model")
        return 0
    print(f"{'name':28} {'version':10} {'stages':10} {'map50':>6} {'map':>6}  {'created':25} commit")
    for r in rows:
        m = r["metrics"]
        print(
            f"{r['name']:28} {r['version']:10} {','.join(r['stages']) or '-':10} {m.get('map50', '-'):>6} "
            f"{m.get('map', '-'):>6}  {r['created']:25} {r['commit']}"
        )
    return 0


def _models_import(args: argparse.Namespace) -> int:
    from rpsdet.registry.importer import import_checkpoint

    result = import_checkpoint(Path(args.repo), Path(args.path), args.name)
    print(json.dumps(result, indent=1))
    print(
        f"next: git add models/imported && git commit -m 'import {args.name}' && "
        f"rpsdet publish --name {result['name']} --stage dev"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from rpsdet.data.coco import check_image_paths, read_coco
    from rpsdet.evaluate.report import EvalOutputs, evaluate_checkpoint
    from rpsdet.params import load_params
    from rpsdet.registry.versions import resolve_model

    checkpoint, label = resolve_model(Path(args.repo), args.name, args.model)
    data = Path(args.data)
    coco = data / "annotations.json" if data.is_dir() else data
    if not coco.is_file():
        raise FileNotFoundError(f"{data} is neither a COCO file nor a canonical dataset with annotations.json")
    check_image_paths(coco, read_coco(coco), [coco.parent, Path(args.root)])
    params = load_params(args.params) if Path(args.params).is_file() else {}
    out = Path(args.out or f"eval_runs/{args.name.replace('/', '_').replace(':', '_')}@{label}")
    outputs = EvalOutputs(out, out / "eval.json", out / "slices.json", out / "plots")
    # The evaluate stage's function; the device is picked here (auto), the stage takes train.device.
    metrics = evaluate_checkpoint(
        checkpoint, coco, outputs, cfg=params.get("evaluate", {}), threads=params.get("train", {}).get("threads", 0)
    )
    print(json.dumps({k: metrics[k] for k in ("map", "map50", "map75", "precision", "recall", "f1")}))
    print(f"written to {out}/ (eval.json, slices.json, per_image.csv, gallery/index.html)")
    return 0


def add_registry_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish",
        help="register the committed model as a new GTO version; optionally assign a stage",
        **examples(
            "rpsdet publish --stage dev",
            "rpsdet publish --bump minor --stage prod",
            "rpsdet publish --name model --version v1.0.0 --metrics metrics/eval_round2.json",
        ),
    )
    p.add_argument("--name", help="artifact name (default: the first one in dvc.yaml `artifacts:`)")
    p.add_argument("--version", help="explicit semver, e.g. v1.0.0 (default: bump the latest)")
    p.add_argument("--bump", choices=("patch", "minor", "major"), default="patch")
    p.add_argument("--stage", help="also assign this stage, e.g. dev or prod")
    p.add_argument("--metrics", help="metrics JSON recorded with the version (default: the artifact's meta.metrics)")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--repo", default=".")
    p.set_defaults(func=_publish)

    p = sub.add_parser(
        "models",
        help="list model versions, stages and key metrics; `models import` adds one",
        **examples(
            "rpsdet models",
            "rpsdet models --repo ../rpsdet-registry",
            "rpsdet models import ~/Downloads/partner.pt --name partner-d0",
        ),
    )
    p.add_argument("--repo", default=".")
    p.set_defaults(func=_models)
    p = p.add_subparsers(dest="models_command").add_parser(
        "import",
        help="adopt a ready-made rpsdet checkpoint",
        **examples(
            "rpsdet models import ~/Downloads/partner.pt --name partner-d0",
            "rpsdet models import /mnt/share/d0_512.pt --name d0-512 --repo ../rpsdet-registry",
        ),
    )
    p.add_argument("path")
    p.add_argument("--name", required=True, help="artifact name: lowercase letters, digits, '-'")
    p.add_argument("--repo", default=".")
    p.set_defaults(func=_models_import)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a registered version (or a checkpoint) on any canonical dataset",
        **examples(
            "rpsdet evaluate --model prod --data data/validated/test",
            "rpsdet evaluate --model v0.1.0 --data data/splits/v1/test.json --out /tmp/v010",
            "rpsdet evaluate --model models/round1/model.pt --data data/validated/test",
        ),
    )
    p.add_argument("--model", required=True, help="a version (v0.1.0), a stage (prod) or a checkpoint file")
    p.add_argument("--data", required=True, help="a canonical dataset folder or a COCO split file")
    p.add_argument("--name", default="model", help="artifact name (default model)")
    p.add_argument("--out", help="output folder (default eval_runs/<name>@<version>)")
    p.add_argument("--params", default="params.yaml", help="evaluate.* settings come from here")
    p.add_argument("--repo", default=".")
    p.add_argument(
        "--root",
        default=".",
        help="--data's images must lie inside its folder or this one (default: the current folder, the project)",
    )
    p.set_defaults(func=_evaluate)
