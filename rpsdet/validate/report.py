"""report.csv / report.json (one row per finding + one `result` row per input image), the metrics summary, and
the table printed at the end of a run."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from rpsdet.data.coco import ImageRecord
from rpsdet.validate.duplicates import Match
from rpsdet.validate.findings import FIXED, QUARANTINED, REPORT_FIELDS, Finding


def write_report(out: Path, findings: list[Finding]) -> None:
    """report.csv, and report.json as a JSON array with one finding per line (diffable, and written by json's C
    encoder: an indented dump takes the pure-Python path, 5x slower on a large source)."""
    rows = [f.row() for f in findings]
    with open(out / "report.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=REPORT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    encode = json.JSONEncoder(ensure_ascii=False).encode
    lines = ",\n".join(encode(row) for row in rows)
    (out / "report.json").write_text(f"[\n{lines}\n]\n" if rows else "[]\n", encoding="utf-8")


def summarize(
    source: str, fmt: str, findings: list[Finding], records: list[ImageRecord], leaks: dict[str, Match]
) -> dict:
    """Counts for metrics/validation_<source>.json: images in/kept/quarantined, background images, look-alikes,
    leakage (with one example pair), and rows per check and action."""
    results = [f for f in findings if f.check == "result"]
    checks = [f for f in findings if f.check != "result"]
    fixed = {f.image for f in checks if f.action == FIXED}
    kept = {f.image for f in results if f.action != QUARANTINED}
    example = min(leaks.items()) if leaks else None
    return {
        "source": source,
        "format": fmt,
        "input_images": len(results),
        "kept_images": len(kept),
        "quarantined_images": sum(f.action == QUARANTINED for f in results),
        "fixed_images": len(fixed & kept),
        "background_images": sum(not r.boxes for r in records),
        "near_duplicate_images": sum(f.check == "near_duplicate" for f in checks),
        "leakage_images": len(leaks),
        "leakage_example": {
            "image": example[0],
            "reference": example[1].other,
            "distance": example[1].distance,
            "kind": example[1].kind,
        }
        if example
        else None,
        "boxes": sum(len(r.boxes) for r in records),
        "checks": dict(sorted(Counter(f.check for f in checks).items())),
        "actions": dict(sorted(Counter(f"{f.check}:{f.action}" for f in checks).items())),
    }


def summary_table(summary: dict) -> str:
    """A short plain-text table of what happened, for the end of a run, with a warning on train/test leakage."""
    kept = summary["kept_images"]
    share = f" ({summary['background_images'] / kept:.0%} of kept)" if kept else ""
    lines = [
        f"{summary['source']} ({summary['format']}): {summary['input_images']} images in, "
        f"{kept} kept ({summary['fixed_images']} fixed), "
        f"{summary['quarantined_images']} quarantined, {summary['boxes']} boxes",
        f"  background images (no boxes): {summary['background_images']}{share}",
        f"  {'check':<28} {'action':<12} {'count':>5}",
    ]
    for key, count in summary["actions"].items():
        check, action = key.rsplit(":", 1)
        lines.append(f"  {check:<28} {action:<12} {count:>5}")
    if kept and summary["background_images"] == kept:
        lines.append(
            "WARNING: every kept image is a background image (no boxes): are the annotations where the "
            f"{summary['format'].upper()} reader looks for them?"
        )
    example = summary["leakage_example"]
    if example:
        how = "the same pixels" if example["kind"] == "exact" else f"{example['distance']} of 64 hash bits apart"
        lines += [
            f"WARNING: {summary['leakage_images']} of {summary['input_images']} {summary['source']} images copy "
            "a train image, e.g.",
            f"  {example['image']}",
            f"  ~ {example['reference']} in train ({how}).",
            "  A score on them measures memory, not generalisation. validate.leakage: flag keeps them (marked "
            "rpsdet_flags.leakage), quarantine drops them.",
        ]
    return "\n".join(lines)
