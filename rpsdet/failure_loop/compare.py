"""Side-by-side overall and failure-slice metrics of training rounds (and a control, in the benchmark)."""
from __future__ import annotations

from typing import Any

from rpsdet.evaluate.leakage import TestView, view_metrics, view_slices


def compare_rounds(rule: str, rounds: dict[str, tuple[dict, dict]], view: TestView,
                   baseline: str = "round1") -> dict[str, Any]:
    """rounds: name -> (eval metrics, slice metrics), both files as evaluate writes them; every figure is read from
    `view` (full or leak-free test set). Deltas are against `baseline`, in mAP points x 100."""
    summary = {}
    for name, (all_metrics, all_slices) in rounds.items():
        metrics, slices = view_metrics(all_metrics, view), view_slices(all_slices, view)
        if rule not in slices:
            raise ValueError(f"round {name} has no test images in the failure slice {rule} on the {view.label}")
        summary[name] = {"overall_map50": metrics["map50"], "overall_map": metrics["map"],
                         "slice_map50": slices[rule]["map50"], "slice_map": slices[rule]["map"],
                         "slice_images": slices[rule]["images"]}
    base = summary[baseline]
    delta = {name: {f"{k}_points": round(100 * (v[k] - base[k]), 2)
                    for k in ("overall_map50", "overall_map", "slice_map50", "slice_map")}
             for name, v in summary.items() if name != baseline}
    table = [{"round": name, "measure": measure, "map50": v[key]} for name, v in summary.items()
             for measure, key in (("overall", "overall_map50"), (f"slice {rule}", "slice_map50"))]
    return {"failure_slice": rule, "test_view": {"name": view.name, "why": view.why}, "rounds": summary,
            "delta": delta, "table": table}
