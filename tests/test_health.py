"""The dataset health report on small generated canonical datasets: every figure checked against what was drawn."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from rpsdet.data.coco import ImageRecord, write_coco
from rpsdet.data.health import (
    health_report,
    ks_distance,
    ks_noise,
    measure_source,
    plot_tables,
    share_noise,
    summary_lines,
)
from rpsdet.data.image_measures import SliceThresholds

REPO = Path(__file__).resolve().parents[1]


def textured(value: int, seed: int, size: tuple[int, int] = (100, 80)) -> Image.Image:
    """A noisy grey image around `value` (sharp: strong pixel-to-pixel changes)."""
    noise = np.random.default_rng(seed).integers(-40, 41, (size[1], size[0], 1))
    return Image.fromarray(np.clip(value + noise, 0, 255).astype(np.uint8).repeat(3, axis=2))


def write_source(folder: Path, plan: list[dict]) -> Path:
    """A canonical dataset: one entry of `plan` per image (boxes, labels, brightness, flags)."""
    (folder / "images").mkdir(parents=True)
    records = []
    for i, item in enumerate(plan):
        name = f"images/{i}.png"
        textured(item.get("luma", 120), i).save(folder / name)
        boxes = item.get("boxes", [(10.0, 10.0, 30.0, 50.0)])  # 20 x 40 = 10 % of 100 x 80, aspect 0.5
        records.append(
            ImageRecord(i + 1, name, 100, 80, boxes, item.get("labels", [i % 3] * len(boxes)), item.get("flags", {}))
        )
    write_coco(folder / "annotations.json", records)
    return folder / "annotations.json"


TWO = [(10.0, 10.0, 30.0, 50.0), (50.0, 10.0, 90.0, 50.0)]  # the second: 40 x 40 = 20 %, aspect 1
LEAK = {"leakage": {"reference": "images/0.png", "distance": 2, "kind": "near"}}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("health")
    # train: 50 images, 5 with two hands (10 %), none dark, no background.
    train = [{"boxes": TWO} if i < 5 else {} for i in range(50)]
    # test: 50 images, 20 with two hands (40 %), 10 backgrounds, 15 dark, one flagged as a copy of a train image.
    test = (
        [{"boxes": TWO}] * 20 + [{"boxes": [], "labels": []}] * 10 + [{"luma": 25}] * 15 + [{"flags": LEAK}] + [{}] * 4
    )
    return {"train": write_source(root / "train", train), "test": write_source(root / "test", test)}


def test_each_source_is_described_from_its_annotations_and_pixels(sources):
    facts = {side: measure_source(path, SliceThresholds(), workers=2) for side, path in sources.items()}
    report = health_report(facts, warn_above=0.2)
    train, test = report["sources"]["train"], report["sources"]["test"]
    assert (train["images"], train["boxes"], train["background_images"]) == (50, 55, 0)
    assert (test["images"], test["boxes"], test["background_images"], test["background_share"]) == (50, 60, 10, 0.2)
    assert train["boxes_per_image"]["multi_object_share"] == 0.1
    assert test["boxes_per_image"]["multi_object_share"] == 0.4
    assert train["box_area_pct"]["median"] == 10.0 and train["box_aspect_ratio"]["median"] == 0.5
    assert test["box_area_pct"]["p90"] == 20.0
    assert sum(c["boxes"] for c in test["classes"].values()) == 60
    assert train["image_size"] == {
        "distinct": 1,
        "most_common": "100x80",
        "most_common_share": 1.0,
        "width": {"p10": 100.0, "median": 100.0, "p90": 100.0},
        "height": {"p10": 80.0, "median": 80.0, "p90": 80.0},
    }
    assert train["brightness"]["dark_share"] == 0.0 and test["brightness"]["dark_share"] == 0.3
    assert test["flags"] == {"leakage": 1} and train["flags"] == {}


def test_the_shift_stands_out_with_a_plain_warning(sources):
    facts = {side: measure_source(path, SliceThresholds()) for side, path in sources.items()}
    report = health_report(facts, warn_above=0.2)
    shift = report["shift"]
    multi = shift["multi_object_share"]
    assert {k: multi[k] for k in ("train", "test", "of", "distance", "distance_by", "warn")} == {
        "train": 0.1,
        "test": 0.4,
        "of": "share",
        "distance": 0.3,
        "distance_by": "difference",
        "warn": True,
    }
    assert multi["noise"] == share_noise(5, 50, 20, 50) < 0.3
    assert shift["dark_share"]["distance"] == 0.3 and shift["dark_share"]["warn"]
    assert shift["background_share"]["distance"] == 0.2 and not shift["background_share"]["warn"]  # not above
    assert shift["image_megapixels"]["distance"] == 0.0 and not shift["image_megapixels"]["warn"]
    assert shift["boxes_per_image"]["of"] == "mean" and shift["boxes_per_image"]["test"] == 1.2
    assert shift["box_area_pct"]["noise"] == ks_noise(55, 60)
    warnings = report["warnings"]
    assert warnings[0].startswith(
        "WARNING train/test shift: images with 2+ boxes: 10.0% of train, 40.0% of test "
        "(30 points apart; chance alone: up to "
    )
    assert any(line.startswith("WARNING train/test shift: dark images") for line in warnings)
    assert not any("background" in line for line in warnings)
    printed = "\n".join(summary_lines(report))
    assert "images with 2+ boxes" in printed and "40.0%" in printed and "leakage 1" in printed


def test_a_shift_that_chance_explains_in_a_small_test_set_is_not_warned_about(sources):
    train = measure_source(sources["train"], SliceThresholds())
    test = measure_source(sources["test"], SliceThresholds())[15:20]  # 5 images, all two-hand: 100 % vs 10 %
    shift = health_report({"train": train, "test": test}, warn_above=0.2)["shift"]["multi_object_share"]
    assert shift["distance"] == 0.9 and shift["warn"]  # far beyond chance even at 5 images
    few = [measure_source(sources["test"], SliceThresholds())[i] for i in (0, 20, 21, 22)]  # 1 of 4 = 25 %
    shift = health_report({"train": train, "test": few}, warn_above=0.1)["shift"]["multi_object_share"]
    assert shift["distance"] == 0.15 > 0.1 and shift["noise"] > 0.15 and not shift["warn"]


def test_noise_levels_shrink_with_sample_size():
    assert share_noise(10, 100, 10, 100) > share_noise(100, 1000, 100, 1000)
    assert ks_noise(20, 572) > 0.3 > ks_noise(365, 716)  # 20 test boxes vs train: a KS distance of 0.3 is luck
    assert share_noise(0, 0, 1, 5) is None and ks_noise(0, 5) is None


def test_a_test_source_like_train_raises_no_warning(sources):
    same = measure_source(sources["train"], SliceThresholds())
    report = health_report({"train": same, "test": same}, warn_above=0.2)
    assert report["warnings"] == [] and all(s["distance"] == 0.0 for s in report["shift"].values())


def test_an_empty_source_is_reported_not_a_crash():
    report = health_report({"train": [], "test": []}, warn_above=0.2)
    assert report["sources"]["test"]["images"] == 0 and report["warnings"] == []
    assert all(s["distance"] is None for s in report["shift"].values())
    assert summary_lines(report)[1].split()[-1] == "(0)"


def test_ks_distance_is_the_two_sample_kolmogorov_smirnov_statistic():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for a, b in ((rng.normal(0, 1, 50), rng.normal(0.5, 1, 80)), (rng.integers(0, 4, 30), rng.integers(1, 5, 40))):
        assert ks_distance(list(a), list(b)) == round(float(stats.ks_2samp(a, b).statistic), 4)
    assert ks_distance([], [1.0]) is None


def test_plot_tables_put_train_and_test_side_by_side(sources):
    facts = {side: measure_source(path, SliceThresholds()) for side, path in sources.items()}
    tables = plot_tables(facts)
    per_image = dict(zip(tables["boxes_per_image.csv"]["boxes"], tables["boxes_per_image.csv"]["share"]))
    assert per_image["2 · train"] == 0.1 and per_image["2 · test"] == 0.4 and per_image["0 · test"] == 0.2
    assert len(tables["classes.csv"]) == 6
    area = tables["train/box_area_pct.csv"]
    assert list(area.columns) == ["box_area_pct", "share_below"] and len(area) == 101
    assert area["box_area_pct"].is_monotonic_increasing and area["share_below"].iloc[-1] == 1.0


def test_the_stage_writes_metrics_and_plots_and_prints_the_warning(sources, tmp_path):
    for side, path in sources.items():
        shutil.copytree(path.parent, tmp_path / "data" / "validated" / side)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [
        "data/validated/train/annotations.json",
        "data/validated/test/annotations.json",
        "metrics/health.json",
        "metrics/health",
    ]  # as dvc.yaml's cmd passes them
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages" / "health.py"), *args],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING train/test shift: images with 2+ boxes" in proc.stdout
    report = json.loads((tmp_path / "metrics" / "health.json").read_text())
    assert report["shift"]["multi_object_share"]["warn"]
    assert report["shift_warning"] == params["health"]["shift_warning"]
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    declared = {path for plot in dvc["plots"] for spec in plot.values() for path in spec["y"]}
    written = {str(p.relative_to(tmp_path)) for p in (tmp_path / "metrics" / "health").rglob("*.csv")}
    assert written == {p for p in declared if p.startswith("metrics/health/")}  # every table is plotted
