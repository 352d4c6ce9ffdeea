"""Dataset health report (the analog of Roboflow's health check): what each source holds, and how far the test
source drifts from the train source, measured before any training.

Per source: class balance, boxes per image, box size (share of the image area) and aspect ratio, image sizes,
background images, brightness and blur (the evaluation slices' own measures, so `brightness==dark` means the same
here), and the validation flags images carry. The shift compares train and test on each measure: a share by its
difference in points, a distribution by the two-sample Kolmogorov-Smirnov distance (the largest gap between the
two cumulative distributions, 0..1). A measure is warned about when its distance passes `health.shift_warning` and
what chance alone gives at these sample sizes (a 28-image test set differs from train by luck). A test set with
40 % multi-hand images against 10 % in train is then visible here, as the failure slice it will become.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord, image_path, read_coco
from rpsdet.data.image_measures import SliceThresholds, image_looks

MULTI = 2  # "several hands": images with at least this many boxes (the evaluation slice objects>=2)
# A shift is only warned about when chance alone would reach it less than once in a hundred at these sample sizes
# (small test sets differ from train by luck): two-sided 1 % z for a difference of shares, and the KS statistic's
# 1 % coefficient c = sqrt(-ln(0.01 / 2) / 2).
NOISE_Z = 2.576
NOISE_KS = 1.628
QUANTILES = np.linspace(0.0, 1.0, 101)  # where the cumulative-distribution plots are sampled


@dataclass(frozen=True)
class ImageFacts:
    """What the health report needs from one image: sizes from the annotations, looks from the pixels."""

    width: int
    height: int
    labels: tuple[int, ...]
    box_area_pct: tuple[float, ...]  # box area / image area, in percent
    box_aspect: tuple[float, ...]  # box width / height
    mean_luma: float
    laplacian_var: float
    brightness: str  # dark | normal | bright
    blur: str  # blurry | sharp
    flags: tuple[str, ...]  # validation flags on the image, e.g. leakage


def image_facts(coco_path: Path, record: ImageRecord, thresholds: SliceThresholds) -> ImageFacts:
    with Image.open(image_path(coco_path, record)) as im:
        looks = image_looks(np.asarray(im.convert("RGB")), thresholds)
    area = float(record.width * record.height)
    sizes = [(x2 - x1, y2 - y1) for x1, y1, x2, y2 in record.boxes]
    return ImageFacts(
        record.width,
        record.height,
        tuple(record.labels),
        tuple(100.0 * w * h / area for w, h in sizes),
        tuple(w / h for w, h in sizes if h > 0),
        looks["mean_luma"],
        looks["laplacian_var"],
        looks["brightness"],
        looks["blur"],
        tuple(sorted(record.flags)),
    )


def measure_source(coco_path: Path, thresholds: SliceThresholds, workers: int = 0) -> list[ImageFacts]:
    """Facts of every image of a canonical dataset. Decoding and OpenCV release the GIL, so threads use every core
    without pickling images between processes (`workers` 0 = every core this process may use)."""
    records = read_coco(coco_path)
    with ThreadPoolExecutor(workers or len(os.sched_getaffinity(0))) as pool:
        return list(pool.map(lambda r: image_facts(coco_path, r, thresholds), records))


def ks_distance(a: list[float], b: list[float]) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: the largest vertical gap between the empirical CDFs (None if a
    side is empty)."""
    if not a or not b:
        return None
    a_sorted, b_sorted = np.sort(a), np.sort(b)
    points = np.concatenate([a_sorted, b_sorted])
    cdf_a = np.searchsorted(a_sorted, points, side="right") / len(a)
    cdf_b = np.searchsorted(b_sorted, points, side="right") / len(b)
    return round(float(np.abs(cdf_a - cdf_b).max()), 4)


def share_noise(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float | None:
    """The difference of two shares that chance alone reaches 1 % of the time (pooled two-proportion z-test)."""
    if not n_a or not n_b:
        return None
    p = (hits_a + hits_b) / (n_a + n_b)
    return round(NOISE_Z * float(np.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))), 4)


def ks_noise(n_a: int, n_b: int) -> float | None:
    """The KS distance that chance alone reaches 1 % of the time between samples of these sizes (asymptotic)."""
    return round(NOISE_KS * float(np.sqrt((n_a + n_b) / (n_a * n_b))), 4) if n_a and n_b else None


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p10": None, "median": None, "p90": None}
    p10, p50, p90 = np.quantile(values, [0.1, 0.5, 0.9])
    return {"p10": round(float(p10), 3), "median": round(float(p50), 3), "p90": round(float(p90), 3)}


def _boxes(facts: list[ImageFacts]) -> list[int]:
    return [label for f in facts for label in f.labels]


@dataclass(frozen=True)
class Measure:
    """One line of the shift table: a share of images/boxes, or a distribution of values."""

    key: str
    label: str
    kind: str  # "share" or "distribution"
    of: Callable[[list[ImageFacts]], object]  # share: (hits, total); distribution: list of values
    unit: str = ""
    center: str = "median"  # what a distribution is summarised by next to its KS distance: median or mean


def measures() -> list[Measure]:
    """Every measure the shift compares, in the order it is printed."""
    share = "share"
    listed = [
        Measure(
            "background_share", "background images (no box)", share, lambda fs: (sum(not f.labels for f in fs), len(fs))
        ),
        Measure(
            "multi_object_share",
            f"images with {MULTI}+ boxes",
            share,
            lambda fs: (sum(len(f.labels) >= MULTI for f in fs), len(fs)),
        ),
        Measure(
            "boxes_per_image", "boxes per image", "distribution", lambda fs: [len(f.labels) for f in fs], center="mean"
        ),  # a median of small counts hides the shift (1 and 1)
    ]
    listed += [
        Measure(
            f"class_share.{name}",
            f"boxes of class {name}",
            share,
            lambda fs, k=k: (sum(label == k for label in _boxes(fs)), len(_boxes(fs))),
        )
        for k, name in enumerate(CLASS_NAMES)
    ]
    listed += [
        Measure(
            "box_area_pct",
            "box size (% of the image area)",
            "distribution",
            lambda fs: [a for f in fs for a in f.box_area_pct],
            "%",
        ),
        Measure(
            "box_aspect_ratio",
            "box aspect ratio (width / height)",
            "distribution",
            lambda fs: [a for f in fs for a in f.box_aspect],
        ),
        Measure(
            "image_megapixels",
            "image size (megapixels)",
            "distribution",
            lambda fs: [f.width * f.height / 1e6 for f in fs],
        ),
        Measure("mean_luma", "brightness (mean luma 0..255)", "distribution", lambda fs: [f.mean_luma for f in fs]),
        Measure("dark_share", "dark images", share, lambda fs: (sum(f.brightness == "dark" for f in fs), len(fs))),
        Measure(
            "bright_share", "bright images", share, lambda fs: (sum(f.brightness == "bright" for f in fs), len(fs))
        ),
        Measure(
            "laplacian_var",
            "sharpness (variance of the Laplacian)",
            "distribution",
            lambda fs: [f.laplacian_var for f in fs],
        ),
        Measure("blurry_share", "blurry images", share, lambda fs: (sum(f.blur == "blurry" for f in fs), len(fs))),
    ]
    return listed


def describe(facts: list[ImageFacts]) -> dict:
    """The health section of one source."""
    labels = _boxes(facts)
    per_image = [len(f.labels) for f in facts]
    sizes = Counter(f"{f.width}x{f.height}" for f in facts)
    common, common_count = sizes.most_common(1)[0] if sizes else ("", 0)
    return {
        "images": len(facts),
        "boxes": len(labels),
        "background_images": sum(n == 0 for n in per_image),
        "background_share": _share(sum(n == 0 for n in per_image), len(facts)),
        "classes": {
            name: {"boxes": labels.count(k), "share": _share(labels.count(k), len(labels))}
            for k, name in enumerate(CLASS_NAMES)
        },
        "boxes_per_image": {
            "mean": round(float(np.mean(per_image)), 3) if per_image else None,
            "max": max(per_image, default=0),
            "multi_object_share": _share(sum(n >= MULTI for n in per_image), len(facts)),
        },
        "box_area_pct": _quantiles([a for f in facts for a in f.box_area_pct]),
        "box_aspect_ratio": _quantiles([a for f in facts for a in f.box_aspect]),
        "image_size": {
            "distinct": len(sizes),
            "most_common": common,
            "most_common_share": _share(common_count, len(facts)),
            "width": _quantiles([f.width for f in facts]),
            "height": _quantiles([f.height for f in facts]),
        },
        "brightness": {
            **_quantiles([f.mean_luma for f in facts]),
            "dark_share": _share(sum(f.brightness == "dark" for f in facts), len(facts)),
            "bright_share": _share(sum(f.brightness == "bright" for f in facts), len(facts)),
        },
        "blur": {
            **_quantiles([f.laplacian_var for f in facts]),
            "blurry_share": _share(sum(f.blur == "blurry" for f in facts), len(facts)),
        },
        "flags": dict(sorted(Counter(flag for f in facts for flag in f.flags).items())),
    }


def shift(train: list[ImageFacts], test: list[ImageFacts], warn_above: float) -> dict[str, dict]:
    """Train vs test on every measure: a share by its difference, a distribution by the KS distance (with the
    median or mean to read it by), and `noise`, the distance chance alone reaches at these sample sizes. `warn`
    marks a distance above both `warn_above` and the noise."""
    out = {}
    for m in measures():
        if m.kind == "share":
            (hits_a, n_a), (hits_b, n_b) = m.of(train), m.of(test)
            a, b = _share(hits_a, n_a), _share(hits_b, n_b)
            distance = round(abs(b - a), 4) if a is not None and b is not None else None
            noise = share_noise(hits_a, n_a, hits_b, n_b)
        else:
            values_a, values_b = m.of(train), m.of(test)
            center = np.median if m.center == "median" else np.mean
            a = round(float(center(values_a)), 3) if values_a else None
            b = round(float(center(values_b)), 3) if values_b else None
            distance, noise = ks_distance(values_a, values_b), ks_noise(len(values_a), len(values_b))
        out[m.key] = {
            "train": a,
            "test": b,
            "of": "share" if m.kind == "share" else m.center,
            "distance": distance,
            "distance_by": "difference" if m.kind == "share" else "ks",
            "noise": noise,
            "warn": distance is not None and distance > max(warn_above, noise),
        }
    return out


def shift_warnings(shifts: dict[str, dict]) -> list[str]:
    """One plain line per measure where test differs a lot from train (`warn`)."""
    lines = []
    for m in measures():
        s = shifts[m.key]
        if not s["warn"]:
            continue
        if m.kind == "share":
            lines.append(
                f"WARNING train/test shift: {m.label}: {s['train']:.1%} of train, {s['test']:.1%} of test "
                f"({100 * s['distance']:.0f} points apart; chance alone: up to {100 * s['noise']:.0f})"
            )
        else:
            lines.append(
                f"WARNING train/test shift: {m.label}: {m.center} {s['train']:.3g}{m.unit} in train, "
                f"{s['test']:.3g}{m.unit} in test (KS distance {s['distance']:.2f}; chance alone: up to "
                f"{s['noise']:.2f})"
            )
    return lines


def health_report(sources: dict[str, list[ImageFacts]], warn_above: float) -> dict:
    """health.json: one section per source, and the shift of test from train when both are there."""
    report: dict = {"sources": {name: describe(facts) for name, facts in sources.items()}}
    if "train" in sources and "test" in sources:
        report["shift_warning"] = warn_above
        report["shift"] = shift(sources["train"], sources["test"], warn_above)
        report["warnings"] = shift_warnings(report["shift"])
    return report


def _ecdf(key: str, values: list[float]) -> pd.DataFrame:
    """The cumulative distribution sampled at every percentile: value, share of the values at or below it."""
    if not values:
        return pd.DataFrame(columns=[key, "share_below"])
    return pd.DataFrame({key: np.round(np.quantile(values, QUANTILES), 4), "share_below": QUANTILES.round(2)})


def plot_tables(sources: dict[str, list[ImageFacts]]) -> dict[str, pd.DataFrame]:
    """DVC plot data, path under the plots folder -> table. Bars (one file, "value · source" rows, so train and test
    stand side by side): class balance and boxes per image. Cumulative distributions (one file per source, drawn
    as two curves; their largest vertical gap is the KS distance): box size, aspect ratio, brightness, sharpness."""
    tables: dict[str, pd.DataFrame] = {}
    classes, per_image = [], []
    for name, facts in sources.items():
        labels = _boxes(facts)
        classes += [
            {"class": f"{cls} · {name}", "share": _share(labels.count(k), len(labels)) or 0.0}
            for k, cls in enumerate(CLASS_NAMES)
        ]
        counts = Counter(min(len(f.labels), 3) for f in facts)
        per_image += [
            {"boxes": f"{'3+' if n == 3 else n} · {name}", "share": _share(counts[n], len(facts)) or 0.0}
            for n in range(4)
        ]
        for key, values in (
            ("box_area_pct", [a for f in facts for a in f.box_area_pct]),
            ("box_aspect_ratio", [a for f in facts for a in f.box_aspect]),
            ("mean_luma", [f.mean_luma for f in facts]),
            ("laplacian_var", [f.laplacian_var for f in facts]),
        ):
            tables[f"{name}/{key}.csv"] = _ecdf(key, values)
    tables["classes.csv"] = pd.DataFrame(classes, columns=["class", "share"])
    tables["boxes_per_image.csv"] = pd.DataFrame(per_image, columns=["boxes", "share"])
    return tables


def summary_lines(report: dict) -> list[str]:
    """A few lines for the terminal: the main measures per source side by side, then the warnings."""
    sources = report["sources"]
    names = list(sources)
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    num = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
    rows = [
        ("images (boxes)", [f"{s['images']} ({s['boxes']})" for s in sources.values()]),
        ("background images", [pct(s["background_share"]) for s in sources.values()]),
        (f"images with {MULTI}+ boxes", [pct(s["boxes_per_image"]["multi_object_share"]) for s in sources.values()]),
        (
            "rock / paper / scissors boxes",
            [" / ".join(pct(s["classes"][c]["share"]) for c in CLASS_NAMES) for s in sources.values()],
        ),
        ("box size, median % of image", [num(s["box_area_pct"]["median"]) for s in sources.values()]),
        ("box aspect w/h, median", [num(s["box_aspect_ratio"]["median"]) for s in sources.values()]),
        (
            "image size, most common",
            [
                f"{s['image_size']['most_common']} ({pct(s['image_size']['most_common_share'])})"
                for s in sources.values()
            ],
        ),
        (
            "dark / bright images",
            [
                f"{pct(s['brightness']['dark_share'])} / {pct(s['brightness']['bright_share'])}"
                for s in sources.values()
            ],
        ),
        ("blurry images", [pct(s["blur"]["blurry_share"]) for s in sources.values()]),
        (
            "flagged by validation",
            [", ".join(f"{k} {v}" for k, v in s["flags"].items()) or "-" for s in sources.values()],
        ),
    ]
    width = max(len(label) for label, _ in rows)
    col = max(14, *(len(v) for _, values in rows for v in values))
    lines = [f"{'dataset health':<{width}}  " + "  ".join(f"{n:>{col}}" for n in names)]
    lines += [f"{label:<{width}}  " + "  ".join(f"{v:>{col}}" for v in values) for label, values in rows]
    if "shift" in report:
        shifted = sum(s["warn"] for s in report["shift"].values())
        lines.append(
            f"train/test shift: {shifted} of {len(report['shift'])} measures differ by more than "
            f"{report['shift_warning']} (health.shift_warning) and than chance" + (":" if shifted else "")
        )
        lines += report["warnings"]
    return lines


def write_health(
    *,
    sources: dict[str, Path],
    thresholds: SliceThresholds,
    workers: int,
    shift_warning: float,
    json_out: Path,
    plots_dir: Path,
) -> list[str]:
    """Measure each source (side -> annotations.json), write the report and its plot tables; return the summary
    lines (one warning line per measure where the test source drifts far from the train source)."""
    from rpsdet.files import write_json

    measured = {side: measure_source(path, thresholds, workers) for side, path in sources.items()}
    report = health_report(measured, shift_warning)
    write_json(json_out, report)
    for rel, table in plot_tables(measured).items():
        (plots_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(plots_dir / rel, index=False)
    return summary_lines(report)
