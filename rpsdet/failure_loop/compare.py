"""Side-by-side overall and failure-slice metrics of training rounds (and a control, in the benchmark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from rpsdet.evaluate.leakage import TestView, resolve_view, view_metrics, view_slices
from rpsdet.files import write_json


def compare_rounds(
    rule: str, rounds: dict[str, tuple[dict, dict]], view: TestView, baseline: str = "round1"
) -> dict[str, Any]:
    """rounds: name -> (eval metrics, slice metrics), both files as evaluate writes them; every figure is read from
    `view` (full or leak-free test set). Deltas are against `baseline`, in mAP points x 100."""
    summary = {}
    for name, (all_metrics, all_slices) in rounds.items():
        metrics, slices = view_metrics(all_metrics, view), view_slices(all_slices, view)
        if rule not in slices:
            raise ValueError(f"round {name} has no test images in the failure slice {rule} on the {view.label}")
        summary[name] = {
            "overall_map50": metrics["map50"],
            "overall_map": metrics["map"],
            "slice_map50": slices[rule]["map50"],
            "slice_map": slices[rule]["map"],
            "slice_images": slices[rule]["images"],
        }
    base = summary[baseline]
    delta = {
        name: {
            f"{k}_points": round(100 * (v[k] - base[k]), 2)
            for k in ("overall_map50", "overall_map", "slice_map50", "slice_map")
        }
        for name, v in summary.items()
        if name != baseline
    }
    table = [
        {"round": name, "measure": measure, "map50": v[key]}
        for name, v in summary.items()
        for measure, key in (("overall", "overall_map50"), (f"slice {rule}", "slice_map50"))
    ]
    return {
        "failure_slice": rule,
        "test_view": {"name": view.name, "why": view.why},
        "rounds": summary,
        "delta": delta,
        "table": table,
    }


def compare_files(
    *, selection_json: Path, rounds: dict[str, tuple[Path, Path]], leakage_view: str, json_out: Path, csv_out: Path
) -> tuple[TestView, dict[str, Any]]:
    """compare_rounds on the files evaluate wrote (name -> (eval json, slices json), the first is the baseline)
    for the slice mining chose; writes the comparison as JSON and as the plot's CSV."""
    rule = json.loads(Path(selection_json).read_text())["rule"]
    loaded = {
        name: (json.loads(Path(m).read_text()), json.loads(Path(s).read_text())) for name, (m, s) in rounds.items()
    }
    first = next(iter(loaded))
    view = resolve_view(leakage_view, loaded[first][0])
    comparison = compare_rounds(rule, loaded, view, baseline=first)
    write_json(json_out, comparison)
    pd.DataFrame(comparison["table"]).to_csv(csv_out, index=False)
    return view, comparison
