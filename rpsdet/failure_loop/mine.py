"""Rank evaluation slices by how much mAP they lose, choose the failure slice, select its training images.

"Lost mAP mass" = (overall mAP50 - slice mAP50) x images in the slice: a slice matters when it is both much
worse than the whole and big enough to move the total, which is what fixing it with data can buy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rpsdet.data.coco import ImageRecord, image_path, read_coco
from rpsdet.evaluate.leakage import TestView, resolve_view, view_metrics, view_rows, view_slices
from rpsdet.evaluate.slices import SliceRule, SliceThresholds, image_attributes
from rpsdet.files import write_json


@dataclass
class RankedSlice:
    rule: str
    images: int
    map50: float
    gap: float  # overall mAP50 - slice mAP50
    error_share: float  # share of all test errors (FP + FN + wrong class) on this slice's images
    lost_mass: float  # gap x images

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def rank_slices(slices: dict[str, dict], overall_map50: float, per_image: pd.DataFrame) -> list[RankedSlice]:
    """Image slices (not box-size ones: a box size is not a set of images to collect) ranked by lost mass."""
    total_errors = max(1, int(per_image["errors"].sum()))
    rows = per_image.to_dict("records")
    ranked = []
    for name, m in slices.items():
        if name.startswith("box_size") or m.get("map50") is None:
            continue
        rule = SliceRule.parse(name)
        errors = sum(r["errors"] for r in rows if rule.matches(r))
        gap = overall_map50 - m["map50"]
        ranked.append(RankedSlice(name, m["images"], m["map50"], gap, errors / total_errors, gap * m["images"]))
    return sorted(ranked, key=lambda s: s.lost_mass, reverse=True)


def choose_slice(select: str, ranked: list[RankedSlice], min_images: int) -> tuple[SliceRule, str]:
    """`auto`: the slice losing the most mAP mass among those with enough images; else the given rule.

    A small test set (a real export's test folder is often a few dozen images, fewer once leaked frames are set
    aside) may hold no slice of `min_images`. The pipeline still runs, on a pick that says it is a weak one:
    the slice losing the most mass whatever its size, or, when no slice scores below the whole, the one holding
    the most test errors.
    """
    if select != "auto":
        rule = SliceRule.parse(select)
        return rule, f"chosen by params: failure_slice.select = {select}"
    eligible = [s for s in ranked if s.images >= min_images and s.gap > 0]
    if eligible:
        best = eligible[0]
        return SliceRule.parse(best.rule), (
            f"auto: {best.rule} loses the most mAP mass: mAP50 {best.map50:.3f} vs {best.map50 + best.gap:.3f} "
            f"overall on {best.images} test images, holding {best.error_share:.0%} of all test errors"
        )
    if not ranked:
        raise ValueError(
            "no image slice was scored on the test set: nothing to mine. "
            "Set failure_slice.select to a rule (e.g. objects>=2)"
        )
    below = [s for s in ranked if s.gap > 0]
    best = below[0] if below else max(ranked, key=lambda s: (s.error_share, s.images))
    found = (
        f"loses the most mAP mass (mAP50 {best.map50:.3f} vs {best.map50 + best.gap:.3f} overall)"
        if below
        else "holds the most test errors (no slice scores below the whole)"
    )
    return SliceRule.parse(best.rule), (
        f"auto, weak evidence: no slice of at least {min_images} test images (failure_slice.min_images) scores "
        f"below the overall mAP50, so {best.rule} was picked because it {found} on only {best.images} test images, "
        f"with {best.error_share:.0%} of all test errors. Add test images, or set failure_slice.select to a rule you "
        "trust"
    )


def training_attributes(coco_path: Path, thresholds: SliceThresholds) -> dict[int, dict]:
    """The same slice attributes the evaluation computes, for each training image."""
    attrs = {}
    for rec in read_coco(coco_path):
        with Image.open(image_path(coco_path, rec)) as im:
            attrs[rec.id] = image_attributes(np.asarray(im.convert("RGB")), len(rec.boxes), thresholds)
    return attrs


def select_training_images(coco_path: Path, rule: SliceRule, thresholds: SliceThresholds) -> list[ImageRecord]:
    attrs = training_attributes(coco_path, thresholds)
    return [rec for rec in read_coco(coco_path) if rule.matches(attrs[rec.id])]


def summary_markdown(
    rule: SliceRule, why: str, ranked: list[RankedSlice], selected: int, train_images: int, view: TestView
) -> str:
    lines = [
        f"# Failure slice: `{rule}`",
        "",
        why + ".",
        "",
        f"Scored on the {view.label}: {view.why}.",
        "",
        f"Selected {selected} of {train_images} training images in `{rule}` for augmentation.",
        "",
        "| slice | test images | mAP50 | gap to overall | share of errors | lost mass |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{s.rule}` | {s.images} | {s.map50:.3f} | {s.gap:+.3f} | {s.error_share:.0%} | {s.lost_mass:.1f} |"
        for s in ranked
    ]
    return "\n".join(lines) + "\n"


def mine_failures(
    *,
    eval_json: Path,
    slices_json: Path,
    per_image_csv: Path,
    train_json: Path,
    thresholds: SliceThresholds,
    select: str,
    min_images: int,
    leakage_view: str,
    selection_json: Path,
    summary_md: Path,
) -> str:
    """Choose a round's failure slice from its test evaluation and select the training images in it; write the
    selection (what augment reads) and the why (summary_md). Returns the one-line account."""
    eval_metrics = json.loads(Path(eval_json).read_text())
    view = resolve_view(leakage_view, eval_metrics)
    ranked = rank_slices(
        view_slices(json.loads(Path(slices_json).read_text()), view),
        view_metrics(eval_metrics, view)["map50"],
        view_rows(pd.read_csv(per_image_csv), view),
    )
    rule, why = choose_slice(select, ranked, min_images)
    selected = select_training_images(train_json, rule, thresholds)
    n_train = len(json.loads(Path(train_json).read_text())["images"])
    write_json(
        selection_json,
        {
            "rule": str(rule),
            "why": why,
            "test_view": {"name": view.name, "why": view.why},
            "train_json": str(train_json),
            "train_image_ids": [r.id for r in selected],
            "ranking": [s.as_dict() for s in ranked],
        },
    )
    Path(summary_md).write_text(summary_markdown(rule, why, ranked, len(selected), n_train, view))
    return (
        f"failure slice {rule} (scored on the {view.label}): {why}; {len(selected)} of {n_train} training "
        "images selected"
    )
