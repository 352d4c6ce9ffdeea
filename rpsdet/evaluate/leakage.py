"""The two views of a test set: all of it ("full"), and without the images that copy a training image
("leak_free").

Validation flags a test image that is an exact or near copy of a train image (`ImageRecord.flags["leakage"]`) and
keeps it. The full test set is what the user gave; the leak-free one is what the model has not seen. Evaluation
writes both; mining and comparison read one, named by `failure_slice.leakage_view` and recorded where they write.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rpsdet.data.coco import ImageRecord

LEAKAGE_FLAG = "leakage"
FULL, LEAK_FREE = "full", "leak_free"
VIEWS = ("auto", FULL, LEAK_FREE)


def is_leaked(record: ImageRecord) -> bool:
    return LEAKAGE_FLAG in record.flags


def leak_note(record: ImageRecord) -> str:
    """One line a person can check: which training image this test image copies, and how closely."""
    leak = record.flags[LEAKAGE_FLAG]
    how = "exact copy" if leak.get("kind") == "exact" else f"near-copy ({leak.get('distance')} of 64 hash bits differ)"
    return f"{how} of train image {leak.get('reference')}"


@dataclass(frozen=True)
class TestView:
    """Which test figures a consumer uses, and the sentence that says why (written next to its results)."""

    name: str  # FULL or LEAK_FREE
    why: str

    @property
    def label(self) -> str:
        return "full test set" if self.name == FULL else "leak-free test set"


def resolve_view(choice: str, eval_metrics: dict) -> TestView:
    """`auto`: the leak-free view when some test images copy training images, else the full test set."""
    if choice not in VIEWS:
        raise ValueError(f"failure_slice.leakage_view is {choice!r}; use one of {', '.join(VIEWS)}")
    total, leaked = eval_metrics["images"], eval_metrics.get("leaked_images", 0)
    kept = total - leaked
    if choice == FULL or (choice == "auto" and not leaked):
        why = f"{choice}: all {total} test images" + (
            f", {leaked} of them copies of training images" if leaked else " (none copies a training image)"
        )
        return TestView(FULL, f"failure_slice.leakage_view = {why}")
    if not kept:
        raise ValueError(
            f"all {total} test images copy training images: no leak-free test set to score. Set "
            "failure_slice.leakage_view to full, or bring test images the model did not train on"
        )
    return TestView(
        LEAK_FREE,
        f"failure_slice.leakage_view = {choice}: the {kept} test images that copy no training "
        f"image ({leaked} leaked images of {total} left out)",
    )


def view_metrics(eval_metrics: dict, view: TestView) -> dict:
    """The headline metrics of `view` from an eval_<round>.json (full figures at the top, leak-free nested)."""
    return eval_metrics if view.name == FULL else eval_metrics[LEAK_FREE]


def view_slices(slices: dict[str, dict], view: TestView) -> dict[str, dict]:
    """Slice metrics of `view` from a slices_<round>.json; slices with no image in the view are left out."""
    if view.name == FULL:
        return {name: {k: v for k, v in m.items() if k != LEAK_FREE} for name, m in slices.items()}
    return {name: m[LEAK_FREE] for name, m in slices.items() if m[LEAK_FREE]["images"]}


def view_rows(per_image: pd.DataFrame, view: TestView) -> pd.DataFrame:
    """The rows of a per_image.csv that belong to `view`."""
    return per_image if view.name == FULL else per_image[~per_image["leaked"].astype(bool)]
