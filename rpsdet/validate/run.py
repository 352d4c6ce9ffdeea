"""Validate any source (VOC / COCO / YOLO) into the canonical dataset; quarantine and report everything else.

Invariants: every input image ends up kept (in images/) or quarantined (an untouched copy in quarantine/), each
with a `result` row in the report; the input folder is only read.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from rpsdet.data.coco import ImageRecord, image_id_for, write_coco
from rpsdet.data.formats import IMAGE_SUFFIXES, Source, read_source
from rpsdet.data.formats.base import inside, list_files, real_file, skipped_links
from rpsdet.data.formats.yolo_reader import NAME_FILES
from rpsdet.validate import duplicates
from rpsdet.validate.config import ValidateConfig
from rpsdet.validate.decide import Decision, decide
from rpsdet.validate.findings import FLAGGED, KEPT, QUARANTINED, Finding
from rpsdet.validate.images import ImageInfo, inspect_images
from rpsdet.validate.materialize import write_image
from rpsdet.validate.output_folder import MARKER, refuse_unsafe_output, reset_output
from rpsdet.validate.report import summarize, write_report


def _output_name(rel: str, image_root: str) -> str:
    """Path under images/: relative to the source's image folder, so sub-folders stay apart."""
    if image_root not in ("", ".") and rel.startswith(image_root.rstrip("/") + "/"):
        return rel[len(image_root.rstrip("/")) + 1:]
    return rel


def _duplicates(decisions: dict[str, Decision], infos: dict[str, ImageInfo], cfg: ValidateConfig,
                reference: list[ImageInfo]) -> None:
    """Among images still kept: leakage against the reference first, then copies inside this source."""
    alive = lambda: [infos[p] for p, d in sorted(decisions.items()) if d.keep]  # noqa: E731
    action = QUARANTINED if cfg.leakage == "quarantine" else FLAGGED
    for path, (kind, ref, dist) in duplicates.against(alive(), reference, cfg.near_duplicate_distance).items():
        what = "the same bytes as" if kind == "exact" else f"a near-copy ({dist} of 64 hash bits differ) of"
        decisions[path].note(path, "leakage", f"{what} reference image {ref}: it would be scored on data the model "
                             "trained on", action)
    near_action = QUARANTINED if cfg.near_duplicates == "quarantine" else FLAGGED
    for path, (kind, first, dist) in duplicates.within(alive(), cfg.near_duplicate_distance).items():
        if kind == "exact_duplicate":
            decisions[path].note(path, kind, f"the same bytes as {first}; the first copy is kept", QUARANTINED)
        else:
            decisions[path].note(path, kind, f"looks like {first} ({dist} of 64 hash bits differ); the first is kept",
                                 near_action)


CLASS_NAME_FILES = {*NAME_FILES, "data.yaml", "data.yml"}


def stray_files(src: Path, source: Source) -> list[Finding]:
    """Files that are neither an image nor an annotation the reader used: reported, so nothing is dropped silently
    (a .gif or .heic photo lands here too; it is left untouched in the input)."""
    used = {*source.images, *(a.file for a in source.annotations.values()), *(p.file for p in source.problems)}
    found = []
    for rel in list_files(src):
        if rel not in used and rel.rsplit("/", 1)[-1] not in CLASS_NAME_FILES and rel != MARKER:
            found.append(Finding("", rel, "stray_file", f"not an image ({', '.join(IMAGE_SUFFIXES)}) nor a "
                                 f"{source.format} annotation; ignored. Convert it to JPEG/PNG if it is a photo, "
                                 "else remove it from the source", FLAGGED))
    for rel, why in skipped_links(src):
        found.append(Finding("", rel, "skipped_link", f"a symbolic link: {why}; not read and not copied. Copy the "
                             "file itself into the source if it belongs to the dataset", FLAGGED))
    return found


def _reference_infos(cfg: ValidateConfig) -> list[ImageInfo]:
    if cfg.reference is None or not Path(cfg.reference).is_dir():
        return []
    ref = read_source(Path(cfg.reference))
    infos = inspect_images(ref.root, ref.images, cfg.max_pixels, cfg.workers)
    return [i for i in infos.values() if not i.error]


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
    infos = inspect_images(src, source.images, cfg.max_pixels, cfg.workers, dests)
    problems: dict[str, list] = {}
    general: list[Finding] = []
    for p in source.problems:
        if p.image:
            problems.setdefault(p.image, []).append(p)
        else:
            action = QUARANTINED if p.file and p.check != "missing_class_names" else FLAGGED
            general.append(Finding("", p.file, p.check, p.detail, action))
    general += stray_files(src, source)
    decisions = {rel: decide(infos[rel], source.annotations.get(rel), problems.get(rel, []), cfg)
                 for rel in source.images}
    _duplicates(decisions, infos, cfg, _reference_infos(cfg))

    records, copied = [], set()
    for rel, d in sorted(decisions.items()):
        ann = source.annotations.get(rel)
        if d.keep:
            name_out = _output_name(rel, source.image_root)
            try:
                write_image(src / rel, out / "images" / name_out, d)
            except Exception as exc:  # a file that decoded once but cannot be rewritten: quarantine, never crash
                d.note(rel, "fix_failed", f"could not write the fixed image ({type(exc).__name__}: {exc})",
                       QUARANTINED)
            else:
                records.append(ImageRecord(image_id_for(f"{src.name}/{rel}"), f"images/{name_out}", *d.size,
                                           d.boxes, d.labels))
        if not d.keep:
            Path(dests[rel]).unlink(missing_ok=True)
            _copy_original(src, out, rel, copied)
            _copy_original(src, out, ann.file if ann else "", copied)
            for p in problems.get(rel, []):
                _copy_original(src, out, p.file, copied)
        detail = f"{len(d.boxes)} box(es)" if d.keep else "; ".join(
            f.check for f in d.findings if f.action == QUARANTINED)
        d.findings.append(Finding(rel, rel, "result", detail, KEPT if d.keep else QUARANTINED))
    for f in general:
        if f.action == QUARANTINED:
            _copy_original(src, out, f.file, copied)
    findings = general + [f for _, d in sorted(decisions.items()) for f in d.findings]
    write_coco(out / "annotations.json", records)
    summary = summarize(name or src.name, source.format, findings, records)
    write_report(out, findings)
    return summary

