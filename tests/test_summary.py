"""`rpsdet summary`: the end of a run in one screen, every figure read from crafted metrics files."""

import json
from pathlib import Path

import pytest

from rpsdet.cli import main
from rpsdet.evaluate.summary import WIDTH, run_summary

KEYS = ("overall_map50", "overall_map", "slice_map50", "slice_map")
ROUND1 = dict(zip(KEYS, (0.6123, 0.4011, 0.5234, 0.3345)), slice_images=31)
ROUND2 = dict(zip(KEYS, (0.7007, 0.4789, 0.6876, 0.4412)), slice_images=31)
CONTROL = dict(zip(KEYS, (0.6555, 0.4333, 0.5999, 0.3777)), slice_images=31)


def _points(new: dict, old: dict) -> dict:
    return {f"{k}_points": round(100 * (new[k] - old[k]), 2) for k in KEYS}


def _write(root: Path, rel: str, data: dict) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps(data))


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A finished run scored on the leak-free view (6 of 40 test images copy train images), control included."""
    _write(
        tmp_path,
        "metrics/compare.json",
        {
            "failure_slice": "brightness==dark",
            "test_view": {"name": "leak_free", "why": "auto: ..."},
            "rounds": {"round1": ROUND1, "round2": ROUND2},
            "delta": {"round2": _points(ROUND2, ROUND1)},
        },
    )
    _write(tmp_path, "metrics/eval_round1.json", {"images": 40, "leaked_images": 6, "map50": 0.9})
    _write(
        tmp_path,
        "metrics/bench_failure_loop.json",
        {
            "failure_slice": "brightness==dark",
            "test_view": {"name": "leak_free", "why": "auto: ..."},
            "rounds": {"round1": ROUND1, "control": CONTROL, "round2": ROUND2},
            "round2_vs_control_points": {
                k: v for k, v in ((k, round(100 * (ROUND2[k] - CONTROL[k]), 2)) for k in KEYS)
            },
        },
    )
    _write(
        tmp_path,
        "metrics/validation_train.json",
        {
            "input_images": 7031,
            "kept_images": 6950,
            "fixed_images": 12,
            "quarantined_images": 81,
            "background_images": 2801,
            "leakage_images": 0,
        },
    )
    _write(
        tmp_path,
        "metrics/validation_test.json",
        {
            "input_images": 304,
            "kept_images": 290,
            "fixed_images": 3,
            "quarantined_images": 14,
            "background_images": 97,
            "leakage_images": 6,
        },
    )
    return tmp_path


def test_the_summary_fits_80_columns_and_takes_every_number_from_the_files(run):
    text = run_summary(run)
    lines = text.splitlines()
    assert max(map(len, lines)) <= WIDTH and len(lines) <= 15
    assert lines[0] == "test view: leak-free, 34 of 40 test images (6 copies of train images left out)"
    assert "slice brightness==dark" in lines[1] and "(31 images)" in lines[1]
    rows = {line[:20].strip(): line[20:].split() for line in lines}
    assert rows["round 1"] == ["0.6123", "0.4011", "0.5234", "0.3345"]
    assert rows["control"] == ["0.6555", "0.4333", "0.5999", "0.3777"]
    assert rows["round 2"] == ["0.7007", "0.4789", "0.6876", "0.4412"]
    assert rows["round 2 - round 1"] == ["+8.84", "+7.78", "+16.42", "+10.67", "points"]
    assert rows["round 2 - control"] == ["+4.52", "+4.56", "+8.77", "+6.35", "points"]
    validation = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("  ")}
    assert validation["train"] == ["7031", "6950", "12", "81", "2801", "0"]
    assert validation["test"] == ["304", "290", "3", "14", "97", "6"]
    assert "data/eval/round2/gallery/index.html (not made yet)" in text
    assert "data/label_quality/test/review.html (not made yet)" in text
    assert "metrics/failure_slice.md (not made yet)" in text
    assert "dvc plots show" in text and "dvc metrics show --md" in text


def test_pages_that_exist_are_named_without_a_warning(run):
    for page in (
        "data/eval/round2/gallery/index.html",
        "data/label_quality/test/review.html",
        "metrics/failure_slice.md",
    ):
        (run / page).parent.mkdir(parents=True, exist_ok=True)
        (run / page).write_text("<html></html>")
    text = run_summary(run)
    assert "not made yet" not in text and "data/eval/round2/gallery/index.html" in text


def test_no_control_says_not_run_and_a_stale_one_says_stale(run):
    (run / "metrics/bench_failure_loop.json").unlink()
    text = run_summary(run)
    assert "control             not run (python bench/bench_failure_loop.py)" in text
    assert "round 2 - control" not in text

    _write(
        run,
        "metrics/bench_failure_loop.json",
        {
            "test_view": {"name": "leak_free"},
            "rounds": {"round1": {**ROUND1, "overall_map50": 0.5}, "control": CONTROL, "round2": ROUND2},
            "round2_vs_control_points": _points(ROUND2, CONTROL),
        },
    )
    text = run_summary(run)
    assert "stale" in text and "0.6555" not in text and max(map(len, text.splitlines())) <= WIDTH


def test_the_full_view_and_missing_validation_are_said(run):
    compare = json.loads((run / "metrics/compare.json").read_text())
    compare["test_view"] = {"name": "full", "why": "..."}
    _write(run, "metrics/compare.json", compare)
    _write(run, "metrics/eval_round1.json", {"images": 40, "leaked_images": 0})
    (run / "metrics/validation_train.json").unlink()
    text = run_summary(run)
    assert text.splitlines()[0] == "test view: full, 40 test images (none copies a train image)"
    assert "stale" in text  # the control was scored on the leak-free view: not comparable
    assert "train     not run (metrics/validation_train.json missing)" in text


def test_the_command_prints_it_and_writes_metrics_summary_md(run, capsys):
    assert main(["summary", "--root", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "0.7007" in printed
    markdown = (run / "metrics" / "summary.md").read_text()
    assert markdown.startswith("# Run summary") and printed.strip() in markdown


def test_before_any_run_the_command_says_what_to_do(tmp_path, capsys):
    assert main(["summary", "--root", str(tmp_path)]) == 2
    assert "metrics/compare.json not found: run the pipeline first (dvc repro)" in capsys.readouterr().err
