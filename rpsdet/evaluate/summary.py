"""The end of a run in one screen: the figures a person came for, read from the metrics files the pipeline wrote.

`dvc metrics show` prints every key of every file (hundreds of columns); this keeps round 1 / control / round 2,
overall and on the failure slice, the validation counts and where to look next, in at most 80 columns.
Every number comes from a file; a file that is missing is said to be missing, never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path

WIDTH = 80
CONTROL_FILE = "metrics/bench_failure_loop.json"
COLUMNS = ("overall_map50", "overall_map", "slice_map50", "slice_map")


def _read(root: Path, rel: str) -> dict | None:
    path = root / rel
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _scores(name: str, figures: dict) -> str:
    """mAP figures as the files hold them (4 decimals), so the summary and `dvc metrics show` agree."""
    return f"{name:<20}" + "".join(f"{figures[k]:>8.4f}" for k in COLUMNS)


def _points(name: str, points: dict) -> str:
    """Differences in mAP points (x 100) as the files hold them: `<measure>_points`."""
    return f"{name:<20}" + "".join(f"{points[f'{k}_points']:>+8.2f}" for k in COLUMNS) + "  points"


def _view_name(comparison: dict) -> str:
    """`full` or `leak_free`: the `test_view` a comparison file records (files from before it existed: full)."""
    return (comparison.get("test_view") or {}).get("name", "full")


def view_line(compare: dict, eval_round1: dict | None) -> str:
    """Which test images the figures are on (compare.json's `test_view`), with the counts from round 1's eval."""
    leak_free = _view_name(compare) == "leak_free"
    line = f"test view: {'leak-free' if leak_free else 'full'}"
    if eval_round1 is None:
        return line
    total, leaked = eval_round1["images"], eval_round1.get("leaked_images", 0)
    if leak_free:
        return f"{line}, {total - leaked} of {total} test images ({leaked} copies of train images left out)"
    return f"{line}, {total} test images (" + (
        f"{leaked} of them copies of train images)" if leaked else "none copies a train image)"
    )


def control_row(root: Path, compare: dict) -> tuple[list[str], dict | None]:
    """The control round of bench/bench_failure_loop.py (its row, and round 2's lead over it in points), if it ran
    on this very round 1 and test view; else a line that says why not."""
    bench = _read(root, CONTROL_FILE)
    if bench is None:
        return [f"{'control':<20}not run (python bench/bench_failure_loop.py)"], None
    same_round1 = all(bench["rounds"]["round1"][k] == compare["rounds"]["round1"][k] for k in COLUMNS)
    if not (same_round1 and _view_name(bench) == _view_name(compare)):
        return [
            f"{'control':<20}stale: {CONTROL_FILE} scored another round 1",
            f"{'':<20}or test view; rerun bench/bench_failure_loop.py",
        ], None
    vs_control = {f"{k}_points": v for k, v in bench["round2_vs_control_points"].items()}
    return [_scores("control", bench["rounds"]["control"])], vs_control


def validation_lines(root: Path) -> list[str]:
    lines = [f"{'validation':<12}{'in':>6}{'kept':>7}{'fixed':>7}{'quarantined':>13}{'backgrounds':>13}{'leaked':>8}"]
    for side in ("train", "test"):
        v = _read(root, f"metrics/validation_{side}.json")
        if v is None:
            lines.append(f"  {side:<10}not run (metrics/validation_{side}.json missing)")
            continue
        backgrounds = v.get("background_images", v.get("negative_images", 0))
        lines.append(
            f"  {side:<10}{v['input_images']:>6}{v['kept_images']:>7}{v['fixed_images']:>7}"
            f"{v['quarantined_images']:>13}{backgrounds:>13}{v.get('leakage_images', 0):>8}"
        )
    return lines


def _where(root: Path, label: str, rel: str, note: str = "") -> str:
    return f"{label:<12}{rel}{note if (root / rel).exists() else ' (not made yet)'}"


def run_summary(root: Path = Path(".")) -> str:
    """The summary text (at most WIDTH columns) of the run whose files are under `root`."""
    root = Path(root)
    compare = _read(root, "metrics/compare.json")
    if compare is None:
        raise FileNotFoundError(f"{root / 'metrics/compare.json'} not found: run the pipeline first (dvc repro)")
    rounds, rule = compare["rounds"], compare["failure_slice"]
    lines = [
        view_line(compare, _read(root, "metrics/eval_round1.json")),
        f"{'':<20}{'overall':^16}{'slice ' + rule:^16}  ({rounds['round1']['slice_images']} images)",
        f"{'':<20}" + f"{'mAP50':>8}{'mAP':>8}" * 2,
        _scores("round 1", rounds["round1"]),
    ]
    control, vs_control = control_row(root, compare)
    lines += control + [_scores("round 2", rounds["round2"]), _points("round 2 - round 1", compare["delta"]["round2"])]
    if vs_control is not None:
        lines.append(_points("round 2 - control", vs_control))
    lines += validation_lines(root)
    lines += [
        _where(root, "gallery", "data/eval/round2/gallery/index.html", " (round1/ too)"),
        _where(root, "review", "data/label_quality/test/review.html", " (cleanlab)"),
        _where(root, "slice", "metrics/failure_slice.md", " (why this slice)"),
        f"{'plots':<12}dvc plots show -> dvc_plots/index.html; all: dvc metrics show --md",
    ]
    return "\n".join(line[:WIDTH] for line in lines)


def write_summary(root: Path = Path("."), out: Path | None = None) -> str:
    """Print-ready text; also written as markdown (the same block) to `out`, default metrics/summary.md."""
    text = run_summary(root)
    out = Path(out) if out is not None else Path(root) / "metrics" / "summary.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Run summary\n\n```text\n{text}\n```\n", encoding="utf-8")
    return text
