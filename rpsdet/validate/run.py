"""Validate any source (VOC / COCO / YOLO) into the canonical dataset; quarantine and report everything else.

Invariants: every input image ends up kept (in images/) or quarantined (an untouched copy in quarantine/), each
with a `result` row in the report; the input folder is only read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from rpsdet.data.coco import ImageRecord, image_id_for, write_coco
from rpsdet.data.formats import FORMATS, IMAGE_SUFFIXES, Source, read_source
from rpsdet.data.formats.base import inside, list_files, real_file, skipped_links
from rpsdet.validate import duplicates
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.decide import Decision, decide
from rpsdet.validate.findings import FLAGGED, KEPT, QUARANTINED, Finding
from rpsdet.validate.geometry import iou
from rpsdet.validate.images import ImageInfo, inspect_images
from rpsdet.validate.materialize import write_image
from rpsdet.validate.output_folder import MARKER, refuse_unsafe_output, reset_output
from rpsdet.validate.report import summarize, write_report


def _output_name(rel: str, image_root: str) -> str:
    """Path under images/: relative to the source's image folder, so sub-folders stay apart."""
    if image_root not in ("", ".") and rel.startswith(image_root.rstrip("/") + "/"):
        return rel[len(image_root.rstrip("/")) + 1 :]
    return rel


def _same_labels(a: Decision, b: Decision, min_iou: float) -> bool:
    """Do two copies of one picture carry the same boxes (same classes, each box matched at IoU >= min_iou)?"""
    if sorted(a.labels) != sorted(b.labels):
        return False
    unmatched = list(zip(b.boxes, b.labels))
    for box, label in zip(a.boxes, a.labels):
        match = next((o for o in unmatched if o[1] == label and iou(box, o[0]) >= min_iou), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def _look_alike(m: duplicates.Match) -> str:
    return f"{m.distance} of 64 hash bits differ, thumbnails {m.diff:.1f} levels apart"


def _duplicates(
    decisions: dict[str, Decision],
    infos: dict[str, ImageInfo],
    cfg: ValidateConfig,
    src: Path,
    reference: tuple[Path, list[ImageInfo]] | None,
) -> dict[str, duplicates.Match]:
    """Among images still kept: leakage against the reference first, then copies inside this source. Returns the
    leaks (test image -> the train image it copies)."""
    alive = lambda: [infos[p] for p, d in sorted(decisions.items()) if d.keep]  # noqa: E731
    distance, pixel_diff = cfg.near_duplicate_distance, cfg.near_duplicate_pixel_diff
    leaks = duplicates.against(src, alive(), *reference, distance, pixel_diff) if reference else {}
    for path, m in leaks.items():
        what = "the same pixels as" if m.kind == "exact" else f"a near-copy ({_look_alike(m)}) of"
        outcome = (
            "quarantined (validate.leakage=quarantine)"
            if cfg.leakage == "quarantine"
            else "kept and flagged, so evaluation can leave it out"
        )
        decisions[path].note(
            path,
            "leakage",
            f"{what} train image {m.other}: a score on it measures memory, not generalisation; {outcome}",
            QUARANTINED if cfg.leakage == "quarantine" else FLAGGED,
        )
        decisions[path].flags["leakage"] = {"reference": m.other, "distance": m.distance, "kind": m.kind}
    for path, m in duplicates.within(src, alive(), distance, pixel_diff).items():
        d = decisions[path]
        if m.kind == "exact" and _same_labels(d, decisions[m.other], cfg.duplicate_iou):
            d.note(
                path, "exact_duplicate", f"the same pixels and boxes as {m.other}; the first copy is kept", QUARANTINED
            )
        elif m.kind == "exact":
            d.note(
                path,
                "exact_duplicate",
                f"the same pixels as {m.other} but other boxes ({len(d.boxes)} here, "
                f"{len(decisions[m.other].boxes)} there): decide which labels are right and remove the other copy",
                FLAGGED,
            )
        elif cfg.near_duplicates == "quarantine":
            d.note(
                path,
                "near_duplicate",
                f"looks like {m.other} ({_look_alike(m)}); quarantined "
                "(validate.near_duplicates=quarantine), the first is kept",
                QUARANTINED,
            )
        else:
            d.note(
                path,
                "near_duplicate",
                f"looks like {m.other} ({_look_alike(m)}); kept (consecutive video frames look like this)",
                FLAGGED,
            )
            d.flags["near_duplicate"] = {"of": m.other, "distance": m.distance}
    return leaks


CLASS_NAME_FILES = set().union(*(fmt.support_names for fmt in FORMATS.values()))


def stray_files(src: Path, source: Source) -> list[Finding]:
    """Files that are neither an image nor an annotation the reader used: reported, so nothing is dropped silently
    (a .gif or .heic photo lands here too; it is left untouched in the input)."""
    used = {*source.images, *(a.file for a in source.annotations.values()), *(p.file for p in source.problems)}
    found = []
    for rel in list_files(src):
        if rel not in used and rel.rsplit("/", 1)[-1] not in CLASS_NAME_FILES and rel != MARKER:
            found.append(
                Finding(
                    "",
                    rel,
                    "stray_file",
                    f"not an image ({', '.join(IMAGE_SUFFIXES)}) nor a "
                    f"{source.format} annotation; ignored. Convert it to JPEG/PNG if it is a photo, "
                    "else remove it from the source",
                    FLAGGED,
                )
            )
    for rel, why in skipped_links(src):
        found.append(
            Finding(
                "",
                rel,
                "skipped_link",
                f"a symbolic link: {why}; not read and not copied. Copy the "
                "file itself into the source if it belongs to the dataset",
                FLAGGED,
            )
        )
    return found


def _reference_infos(cfg: ValidateConfig) -> tuple[Path, list[ImageInfo]] | None:
    """The reference (train) source's root and its decodable images, or None when there is none."""
    if cfg.reference is None or not Path(cfg.reference).is_dir():
        return None
    ref = read_source(Path(cfg.reference))
    infos = inspect_images(
        ref.root, ref.images, cfg.max_pixels, cfg.workers, desc=f"decode reference {Path(cfg.reference).name}"
    )
    return ref.root, [infos[rel] for rel in ref.images if not infos[rel].error]


def _copy_original(src: Path, out: Path, rel: str, copied: set[str]) -> None:
    if rel and rel not in copied and (src / rel).is_file() and inside(src, src / rel):
        dest = out / "quarantine" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real_file(src, rel), dest, follow_symlinks=False)
        copied.add(rel)


def validate_source(src: Path, out: Path, cfg: ValidateConfig | None = None, name: str | None = None) -> dict:
    """Write out/images, out/annotations.json, out/report.{csv,json}, out/quarantine/; return the summary."""
    src, out, cfg = Path(src), Path(out), cfg or ValidateConfig()
    refuse_unsafe_output(src, out)
    source = read_source(src, cfg.format)
    reset_output(out)
    (out / "images").mkdir()
    dests = {rel: str(out / "images" / _output_name(rel, source.image_root)) for rel in source.images}
    infos = inspect_images(src, source.images, cfg.max_pixels, cfg.workers, dests, f"validate {name or src.name}")
    problems: dict[str, list] = {}
    general: list[Finding] = []
    for p in source.problems:
        if p.image:
            problems.setdefault(p.image, []).append(p)
        else:
            action = QUARANTINED if p.file and p.check != "missing_class_names" else FLAGGED
            general.append(Finding("", p.file, p.check, p.detail, action))
    general += stray_files(src, source)
    decisions = {
        rel: decide(infos[rel], source.annotations.get(rel), problems.get(rel, []), cfg, source.format)
        for rel in source.images
    }
    leaks = _duplicates(decisions, infos, cfg, src, _reference_infos(cfg))

    records, copied = [], set()
    for rel, d in sorted(decisions.items()):
        ann = source.annotations.get(rel)
        if d.keep:
            name_out = _output_name(rel, source.image_root)
            try:
                write_image(src / rel, out / "images" / name_out, d)
            except Exception as exc:  # a file that decoded once but cannot be rewritten: quarantine, never crash
                d.note(rel, "fix_failed", f"could not write the fixed image ({type(exc).__name__}: {exc})", QUARANTINED)
            else:
                records.append(
                    ImageRecord(
                        image_id_for(f"{src.name}/{rel}"), f"images/{name_out}", *d.size, d.boxes, d.labels, d.flags
                    )
                )
        if not d.keep:
            Path(dests[rel]).unlink(missing_ok=True)
            _copy_original(src, out, rel, copied)
            _copy_original(src, out, ann.file if ann else "", copied)
            for p in problems.get(rel, []):
                _copy_original(src, out, p.file, copied)
        detail = (
            f"{len(d.boxes)} box(es)" if d.keep else "; ".join(f.check for f in d.findings if f.action == QUARANTINED)
        )
        d.findings.append(Finding(rel, rel, "result", detail, KEPT if d.keep else QUARANTINED))
    for f in general:
        if f.action == QUARANTINED:
            _copy_original(src, out, f.file, copied)
    findings = general + [f for _, d in sorted(decisions.items()) for f in d.findings]
    write_coco(out / "annotations.json", records)
    summary = summarize(name or src.name, source.format, findings, records, leaks)
    write_report(out, findings)
    return summary


def validate_side(*, source: Path, side: str, out: Path, metrics_json: Path, params: dict) -> dict:
    """The pipeline's validate step for one side of a source holding train/ and test/: any side but train is also
    checked against train for leakage. A missing side or an unreadable file ends in one line, not a traceback."""
    from rpsdet.files import write_json
    from rpsdet.validate.config import ValidateConfig

    if not (source / side).is_dir():
        raise SystemExit(
            f"data.source {source}: no {side}/ folder; point data.source at data/raw/synthetic or at a "
            "folder written by `rpsdet import`"
        )
    cfg = ValidateConfig.from_params(params, reference=source / "train" if side != "train" else None)
    try:
        summary = validate_source(source / side, out, cfg, side)
    except OSError as exc:  # an unreadable folder or file of the source: say which, not a traceback
        raise SystemExit(f"validate {side}: {exc}") from None
    write_json(metrics_json, summary)
    return summary
