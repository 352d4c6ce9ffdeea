"""GroupNorm vs BatchNorm: inference speed in ONNX Runtime, and test accuracy of the same from-scratch recipe.

Inference (batch 1, 256 px, 2 threads, random weights; BatchNorm statistics from one pass over noise): the network
alone and end to end (Detector: letterbox, network, effdet's decoding + NMS), timed interleaved: best and median.
Variants: GroupNorm as the project exports it (TorchScript exporter, opset 18: GroupNorm decomposed into small ops),
BatchNorm the same way, and GroupNorm through the dynamo exporter at opset 21, which emits ONNX's own
GroupNormalization op. For each file, the op counts of the graph ONNX Runtime actually runs (its optimised model,
SessionOptions.optimized_model_filepath) say whether BatchNormalization was folded into the convolutions.

Accuracy: round 1 from scratch with the demo's former round-1 recipe (pretrained none, 36 epochs, lr 0.003,
warmup 100, 192 px, batch 8; the rest params.yaml's train:) once per norm, same seed and steps, best checkpoint by
val mAP, then test mAP50 / mAP as the evaluate stage computes them (evaluate_dataset).
Needs the split files (--splits; `dvc repro split` writes them). A section run alone updates its part of the file.
Prints tables and writes metrics/bench_norm.json.
Usage: python bench/bench_norm.py [--sections inference accuracy] [--splits data/splits/v1] [--epochs 36]
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch.optim.swa_utils import update_bn

from bench_speed import camera_images, interleaved
from machine import machine_info
from rpsdet.classes import CLASS_NAMES
from rpsdet.evaluate.inference import evaluate_dataset
from rpsdet.files import write_json
from rpsdet.model.device import set_threads
from rpsdet.model.factory import build_effdet
from rpsdet.model.onnx_backend import OnnxNet, export_onnx
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.train.loop import TrainConfig, train

SIZE, THREADS, MIN_SCORE = 256, 2, 0.05
# The demo's round 1 before the synthetic pretraining (params.yaml rounds.round1 comment).
SCRATCH_ROUND1 = {
    "pretrained": "none",
    "init_from": None,
    "epochs": 36,
    "lr": 0.003,
    "warmup_steps": 100,
    "image_size": 192,
    "batch_size": 8,
}
NORMS = {
    "GroupNorm": {"norm": "group"},
    "BatchNorm + PreciseBN": {"norm": "batch", "precise_bn_images": 256},  # as measured (params.yaml: 0, off)
    "BatchNorm without PreciseBN": {"norm": "batch", "precise_bn_images": 0},
}
OPS_SHOWN = ("BatchNormalization", "GroupNormalization", "InstanceNormalization", "Conv", "FusedConv")


def export_native_groupnorm(model: torch.nn.Module, path: Path) -> Path:
    """The dynamo exporter at opset 21: aten.group_norm becomes one GroupNormalization node (batch fixed at 1)."""
    levels = model.config.num_levels
    names = [f"cls_{i}" for i in range(levels)] + [f"box_{i}" for i in range(levels)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (torch.randn(1, 3, SIZE, SIZE),),
            str(path),
            opset_version=21,
            input_names=["images"],
            output_names=names,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    return path


def op_counts(path: Path) -> dict[str, dict[str, int]]:
    """Ops in the exported file and in the graph ONNX Runtime runs after its optimisations."""
    import onnxruntime as ort

    optimised = path.with_suffix(".ort-optimised.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(optimised)
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = {}
    for name, file in (("exported", path), ("ort_optimised", optimised)):
        counts = collections.Counter(node.op_type for node in onnx.load(str(file)).graph.node)
        out[name] = {"nodes": sum(counts.values()), **{op: counts[op] for op in OPS_SHOWN if counts[op]}}
    return out


def inference_section(workdir: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    group = build_effdet("efficientdet_d0", SIZE, len(CLASS_NAMES), "group").eval()
    torch.manual_seed(0)
    batch = build_effdet("efficientdet_d0", SIZE, len(CLASS_NAMES), "batch")
    # Statistics of real activations instead of a fresh layer's 0 / 1, so that both networks score alike and
    # leave NMS the same work: end to end then differs by the network alone.
    update_bn([torch.randn(8, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))], batch)
    batch.eval()
    files = {
        "GroupNorm, decomposed (opset 18)": (group, export_onnx(group, SIZE, workdir / "group.onnx")),
        "BatchNorm (opset 18)": (batch, export_onnx(batch, SIZE, workdir / "batch.onnx")),
    }
    native_note = None
    try:
        files["GroupNorm, GroupNormalization op (opset 21)"] = (
            group,
            export_native_groupnorm(group, workdir / "group_native.onnx"),
        )
    except Exception as exc:  # noqa: BLE001 - the table says why the variant is missing
        native_note = f"dynamo export failed: {type(exc).__name__}: {str(exc)[:200]}"
    images = camera_images(1)
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)).numpy()
    nets, detectors, ops, agree, found = {}, {}, {}, {}, {}
    for name, (model, path) in files.items():
        net = OnnxNet(path, THREADS)
        nets[name] = lambda n=net: n.run(x)
        detector = Detector(model, SIZE, list(CLASS_NAMES), net=net, backend="onnxruntime")
        detectors[name] = lambda d=detector: d.predict(images, MIN_SCORE)
        ops[name] = op_counts(path)
        with torch.inference_mode():
            expected = [t.numpy() for level in model(torch.from_numpy(x)) for t in level]
        agree[name] = max(float(np.abs(a - b).max()) for a, b in zip(net.run(x), expected))
        nets[name]()  # first calls pay ORT's allocations
        found[name] = sum(map(len, detectors[name]()))
    network = interleaved(nets, rounds=40)
    end_to_end = interleaved(detectors, rounds=40)
    base = "GroupNorm, decomposed (opset 18)"
    rows = {
        name: {
            "network_ms": round(1000 * network[name][1], 2),
            "network_median_ms": round(1000 * network[name][0], 2),
            "end_to_end_ms": round(1000 * end_to_end[name][1], 2),
            "end_to_end_median_ms": round(1000 * end_to_end[name][0], 2),
            "network_speedup_vs_group": round(network[base][1] / network[name][1], 2),
            "end_to_end_speedup_vs_group": round(end_to_end[base][1] / end_to_end[name][1], 2),
            "max_abs_diff_vs_torch": agree[name],
            "detections_above_min_score": found[name],
            "ops": ops[name],
        }
        for name in files
    }
    return {"image_size": SIZE, "batch": 1, "threads": THREADS, "rows": rows, "native_groupnorm_note": native_note}


def accuracy_section(splits: Path, epochs: int, norms: list[str], threads: int | None) -> dict[str, Any]:
    base = load_params()["train"]
    fixed = {**SCRATCH_ROUND1, "epochs": epochs, "resume": False, "run_on": "local", "early_stop_patience": 0}
    if threads is not None:  # speed only: the same maths on any thread count
        fixed["threads"] = threads
    out = {}
    for name in norms:
        cfg = TrainConfig.from_params({**base, **fixed, **NORMS[name]})
        print(f"== {name}: {NORMS[name]}, {cfg.epochs} epochs, {cfg.threads or 'all'} threads", flush=True)
        curve: list[dict[str, float]] = []

        def record(epoch: int, stats: dict[str, float], curve=curve) -> bool:
            if "val/map50" in stats:
                curve.append({"epoch": epoch, "val_map50": stats["val/map50"], "val_map": stats["val/map"]})
            return False

        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = Path(tmp) / "model.pt"
            summary = train(cfg, splits / "train.json", splits / "val.json", checkpoint, stop_when=record)
            test, _ = evaluate_dataset(
                Detector.from_checkpoint(checkpoint, "cpu", backend="torch"), splits / "test.json", show_progress=False
            )
        out[name] = {
            "overrides": NORMS[name],
            "precise_bn_images": cfg.precise_bn_images if cfg.norm == "batch" else None,
            "test_map50": test["map50"],
            "test_map": test["map"],
            "best_val_map50": summary["best_val_map50"],
            "best_epoch": summary["best_epoch"],
            "steps": summary["steps"],
            "train_seconds": summary["train_seconds"],
            "threads": summary["threads"],
            "seconds_with_evals": summary["seconds"],
            "val_curve": curve,
        }
    return {"recipe": {**SCRATCH_ROUND1, "epochs": epochs}, "data": str(splits), "runs": out}


def print_tables(result: dict) -> None:
    inference = result.get("inference")
    if inference:
        print(
            f"\n| ONNX Runtime, batch 1, {SIZE} px, {THREADS} threads | network ms best (median) | end to end ms best "
            "(median) | network vs GroupNorm | end to end vs GroupNorm | BatchNormalization / GroupNormalization "
            "nodes ORT runs | nodes |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, r in inference["rows"].items():
            run = r["ops"]["ort_optimised"]
            print(
                f"| {name} | {r['network_ms']} ({r['network_median_ms']}) | {r['end_to_end_ms']} "
                f"({r['end_to_end_median_ms']}) | {r['network_speedup_vs_group']}x | "
                f"{r['end_to_end_speedup_vs_group']}x | {run.get('BatchNormalization', 0)} / "
                f"{run.get('GroupNormalization', 0)} | {run['nodes']} |"
            )
        if inference.get("native_groupnorm_note"):
            print(inference["native_groupnorm_note"])
    accuracy = result.get("accuracy")
    if accuracy:
        print(
            f"\n| norm ({accuracy['recipe']['epochs']} epochs from scratch) | test mAP50 | test mAP | best val mAP50 "
            "(epoch) | steps | train s | s with evals |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, r in accuracy["runs"].items():
            print(
                f"| {name} | {r['test_map50']:.3f} | {r['test_map']:.3f} | {r['best_val_map50']:.3f} "
                f"({r['best_epoch']}) | {r['steps']} | {r['train_seconds']:.0f} | {r['seconds_with_evals']:.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["inference", "accuracy"], choices=["inference", "accuracy"])
    parser.add_argument("--splits", type=Path, default=None, help="folder of {train,val,test}.json")
    parser.add_argument("--epochs", type=int, default=SCRATCH_ROUND1["epochs"])
    parser.add_argument("--norms", default="GroupNorm,BatchNorm + PreciseBN", help=f"of: {', '.join(NORMS)}")
    parser.add_argument(
        "--train-threads", type=int, default=None, help="default train.threads; 1 steps faster on a busy machine"
    )
    parser.add_argument("--out", type=Path, default=Path("metrics/bench_norm.json"))
    args = parser.parse_args()
    set_threads(THREADS)
    result = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result["machine"] = machine_info()
    if "inference" in args.sections:
        with tempfile.TemporaryDirectory() as tmp:
            result["inference"] = inference_section(Path(tmp))
        write_json(args.out, result)
    if "accuracy" in args.sections:
        splits = args.splits or Path("data/splits") / load_params()["split"]["version"]
        norms = args.norms.split(",")
        if unknown := sorted(set(norms) - set(NORMS)):
            parser.error(f"unknown norms {unknown}; known: {', '.join(NORMS)}")
        section = accuracy_section(splits, args.epochs, norms, args.train_threads)
        previous = result.get("accuracy", {})
        if previous.get("recipe") == section["recipe"]:  # more norms for the same recipe: keep the earlier runs
            section["runs"] = {**previous["runs"], **section["runs"]}
        result["accuracy"] = section
        write_json(args.out, result)
    print_tables(result)


if __name__ == "__main__":
    main()
