"""What `rpsdet import` tells the user: images per side, every class name found and where the alias map sends
it, and what was left behind. Read back from the copied sides, so it shows what the pipeline will see."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rpsdet.classes import CLASS_NAMES, resolve_class
from rpsdet.data.formats import read_source
from rpsdet.data.importer import SIDES, ImportPlan

SHOWN = 8  # left-out files and notes listed by name


def class_counts(dest: Path, fmt: str) -> dict[str, Counter]:
    """Boxes per raw class name per side, as the readers see the imported folder."""
    counts: dict[str, Counter] = {}
    for side in SIDES:
        source = read_source(dest / side, fmt)
        for ann in source.annotations.values():
            for obj in ann.objects:
                counts.setdefault(obj.name, Counter())[side] += 1
    return counts


def unknown_classes(counts: dict[str, Counter], aliases: dict[str, str]) -> list[str]:
    return [name for name in counts if resolve_class(name, aliases) is None]


def _listing(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return [f"  {title}{more}:", *(f"    {item}" for item in items[:SHOWN])]


def summary_text(src: Path, dest: Path, plan: ImportPlan, notes: list[str], aliases: dict[str, str]) -> str:
    counts = class_counts(dest, plan.format)
    lines = [
        f"imported {src} ({plan.format}) -> {dest}",
        f"  sides: {plan.split_by}",
        "  images: " + ", ".join(f"{side} {len(plan.images[side])}" for side in SIDES),
        f"  classes (boxes {' / '.join(SIDES)}):",
    ]
    for name, per_side in sorted(counts.items(), key=lambda kv: -sum(kv[1].values())):
        cls = resolve_class(name, aliases)
        target = CLASS_NAMES[cls] if cls is not None else "UNKNOWN"
        boxes = " / ".join(str(per_side[side]) for side in SIDES)
        lines.append(f"    {name!r:<20} -> {target:<9} {boxes}")
    if not counts:
        lines.append("    none: no box was read; check the export and --format")
    unknown = unknown_classes(counts, aliases)
    if unknown:
        lines += [
            f"  {len(unknown)} unknown class name(s): the validator quarantines the images holding them.",
            f"  Map them in params.yaml classes.aliases (e.g. {unknown[0]!r}: rock), or relabel them.",
        ]
    lines += _listing("left out (not images, their annotations or class names)", plan.left_out)
    lines += _listing("notes", notes)
    return "\n".join(lines)
