"""The honest control for the failure-slice loop: round 2's extra training without the augmented images.

Run after `dvc repro`. It warm-starts from round 1 exactly as round 2 does, on the unaugmented training set, for at
least as many optimizer steps as round 2 took (whole epochs, so the control never gets fewer), evaluates it like
every round, and prints round 1 / control / round 2 side by side. Writes metrics/bench_failure_loop.json.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

from machine import machine_info
from rpsdet.data.coco import read_coco
from rpsdet.evaluate.leakage import resolve_view
from rpsdet.evaluate.report import EvalOutputs, evaluate_model
from rpsdet.evaluate.slices import SliceThresholds
from rpsdet.failure_loop.compare import compare_rounds
from rpsdet.files import write_json
from rpsdet.model.predict import Detector
from rpsdet.params import load_params
from rpsdet.rounds import round_train_json, round_train_params
from rpsdet.train.loop import TrainConfig, train


def main() -> None:
    params = load_params()
    version = params["split"]["version"]
    rule = json.loads(Path("data/mined/round1/selection.json").read_text())["rule"]
    round2 = TrainConfig.from_params(round_train_params(params, "round2"))
    # The training sets dvc.yaml gives the rounds (stage train).
    round2_json = round_train_json(Path("data/augmented/round2"))
    round2_steps = round2.epochs * (len(read_coco(round2_json)) // round2.batch_size)
    control_json = Path("data/splits") / version / "train.json"
    per_epoch = len(read_coco(control_json)) // round2.batch_size
    control = TrainConfig.from_params(
        {**round_train_params(params, "round2"), "epochs": math.ceil(round2_steps / per_epoch), "resume": False}
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.time()
        summary = train(control, control_json, Path("data/splits") / version / "val.json", tmp / "control.pt")
        seconds = time.time() - started
        out = EvalOutputs(tmp / "eval", tmp / "eval.json", tmp / "slices.json", tmp / "plots")
        evaluate_model(
            Detector.from_checkpoint(tmp / "control.pt"),
            Path("data/splits") / version / "test.json",
            out,
            params["evaluate"]["score_threshold"],
            SliceThresholds(**params["evaluate"]["slices"]),
            gallery=False,
        )
        control_metrics = (json.loads(out.metrics_file.read_text()), json.loads(out.slices_file.read_text()))
    rounds = {
        name: (
            json.loads(Path(f"metrics/eval_{name}.json").read_text()),
            json.loads(Path(f"metrics/slices_{name}.json").read_text()),
        )
        for name in ("round1", "round2")
    }
    view = resolve_view(params["failure_slice"]["leakage_view"], rounds["round1"][0])
    comparison = compare_rounds(
        rule, {"round1": rounds["round1"], "control": control_metrics, "round2": rounds["round2"]}, view
    )
    comparison["steps"] = {"round2": round2_steps, "control": summary["steps"]}
    comparison["control_train_seconds"] = round(seconds, 1)
    comparison["round2_vs_control_points"] = {
        k: round(100 * (comparison["rounds"]["round2"][k] - comparison["rounds"]["control"][k]), 2)
        for k in ("overall_map50", "slice_map50", "overall_map", "slice_map")
    }
    comparison["machine"] = machine_info()
    print(f"failure slice: {rule}   extra steps: round2 {round2_steps}, control {summary['steps']}")
    print("| round | overall mAP50 | slice mAP50 | overall mAP | slice mAP |")
    print("|---|---|---|---|---|")
    for name, v in comparison["rounds"].items():
        print(
            f"| {name} | {v['overall_map50']:.3f} | {v['slice_map50']:.3f} | {v['overall_map']:.3f} | "
            f"{v['slice_map']:.3f} |"
        )
    print(f"round 2 vs control, points: {comparison['round2_vs_control_points']}")
    write_json(Path("metrics/bench_failure_loop.json"), comparison)


if __name__ == "__main__":
    main()
