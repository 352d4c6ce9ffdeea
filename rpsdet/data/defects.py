"""Inject known defects into a synthetic VOC source, with a ground-truth manifest of what went where.

Why: a validator is only trustworthy if it is shown to find every kind of damage real exports carry. Structural
defects must all be found by `rpsdet.validate`; label noise (swapped classes, shifted and missing boxes) is what
the cleanlab label-quality step is measured on. Each kind damages different, seeded images.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.formats.voc import VocObject, VocRecord, read_voc, write_voc
from rpsdet.data.synth import hand_counts, render_scene, write_source

ORIENTATION_TAG = 0x0112


@dataclass
class Injected:
    kind: str
    image: str  # image path relative to the source root, as the validator reports it
    check: str  # the check expected to find it ('label_issue' for label noise)
    action: str  # expected outcome for the image: 'quarantined', 'fixed', 'kept' (box-level fixes, flags, a
    # background image), 'label_noise'
    detail: str
    file: str = ""  # the damaged file when it is not the image (an orphan annotation)


@dataclass
class Ctx:
    root: Path
    rng: np.random.Generator
    params: dict

    def img(self, stem: str) -> Path:
        return self.root / "JPEGImages" / f"{stem}.jpg"

    def xml(self, stem: str) -> Path:
        return self.root / "Annotations" / f"{stem}.xml"

    def rel(self, stem: str, suffix: str = ".jpg") -> str:
        return f"JPEGImages/{stem}{suffix}"

    def reimage(self, stem: str, im: Image.Image, suffix: str, **save) -> str:
        """Replace a stem's image with `im` saved under `suffix` (format from the suffix unless given)."""
        self.img(stem).unlink()
        path = self.root / "JPEGImages" / f"{stem}{suffix}"
        im.save(path, **save)
        return self.rel(stem, suffix)

    def edit(self, stem: str, change: Callable[[VocRecord], None]) -> None:
        rec = read_voc(self.xml(stem))
        change(rec)
        write_voc(self.xml(stem), rec)


def _open(ctx: Ctx, stem: str) -> Image.Image:
    with Image.open(ctx.img(stem)) as im:
        return im.convert("RGB")


# --- image defects -------------------------------------------------------------------------------------------
def zero_byte(c: Ctx, s: str) -> Injected:
    c.img(s).write_bytes(b"")
    return Injected("zero_byte", c.rel(s), "zero_byte_image", "quarantined", "emptied the file")


def truncated(c: Ctx, s: str) -> Injected:
    data = c.img(s).read_bytes()
    c.img(s).write_bytes(data[: len(data) // 2])
    return Injected("truncated", c.rel(s), "truncated_image", "quarantined", "cut the JPEG in half")


def garbage(c: Ctx, s: str) -> Injected:
    c.img(s).write_bytes(c.rng.bytes(2048))
    return Injected("garbage_bytes", c.rel(s), "undecodable_image", "quarantined", "2 KiB of random bytes")


def lying_extension(c: Ctx, s: str) -> Injected:
    buf = io.BytesIO()
    _open(c, s).save(buf, "PNG")
    c.img(s).write_bytes(buf.getvalue())
    return Injected("lying_extension", c.rel(s), "extension_mismatch", "fixed", "PNG bytes named .jpg")


def _mode(mode: str, suffix: str) -> Callable[[Ctx, str], Injected]:
    def inject(c: Ctx, s: str) -> Injected:
        im = _open(c, s)
        im = im.convert("L").convert("I;16") if mode == "I;16" else im.convert(mode)
        rel = c.reimage(s, im, suffix)
        return Injected(f"mode_{mode.replace(';', '')}", rel, "non_rgb_mode", "fixed", f"saved in mode {mode}")

    return inject


def _exif(orientation: int, stored: Image.Transpose, kind: str, check: str, action: str):
    def inject(c: Ctx, s: str) -> Injected:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        _open(c, s).transpose(stored).save(c.img(s), quality=92, exif=exif)
        return Injected(kind, c.rel(s), check, action, f"pixels stored turned, EXIF orientation {orientation}")

    return inject


def _resized(kind: str, check: str, action: str, size_of: Callable[[Ctx], tuple[int, int]]):
    """Resize the image and its boxes together (a consistent pair, only too small or too large)."""

    def inject(c: Ctx, s: str) -> Injected:
        im = _open(c, s)
        w, h = size_of(c)
        sx, sy = w / im.width, h / im.height
        im.resize((w, h), Image.Resampling.BILINEAR).save(c.img(s), quality=90)

        def change(rec: VocRecord) -> None:
            rec.width, rec.height = w, h
            for o in rec.objects:
                o.box = (o.box[0] * sx, o.box[1] * sy, o.box[2] * sx, o.box[3] * sy)

        c.edit(s, change)
        return Injected(kind, c.rel(s), check, action, f"resized to {w}x{h} with its boxes")

    return inject


def bomb(c: Ctx, s: str) -> Injected:
    c.img(s).unlink()
    Image.new("1", (10_000, 6_000)).save(c.root / "JPEGImages" / f"{s}.png")
    return Injected(
        "decompression_bomb", c.rel(s, ".png"), "decompression_bomb", "quarantined", "a 60 Mpx PNG of a few KiB"
    )


# --- annotation defects --------------------------------------------------------------------------------------
def unparseable(c: Ctx, s: str) -> Injected:
    text = c.xml(s).read_text()
    c.xml(s).write_text(text[: len(text) // 2])
    return Injected("unparseable_xml", c.rel(s), "unparseable_annotation", "quarantined", "XML cut in half")


def no_annotation(c: Ctx, s: str) -> Injected:
    c.xml(s).unlink()
    return Injected("image_without_annotation", c.rel(s), "unlabelled_image", "quarantined", "XML deleted")


def orphan_annotation(c: Ctx, s: str) -> Injected:
    rec = read_voc(c.xml(s))
    rec.filename = f"{s}_orphan.jpg"
    write_voc(c.root / "Annotations" / f"{s}_orphan.xml", rec)
    return Injected(
        "annotation_without_image",
        "",
        "annotation_without_image",
        "quarantined",
        "an annotation whose image does not exist",
        f"Annotations/{s}_orphan.xml",
    )


def duplicate_annotation(c: Ctx, s: str) -> Injected:
    shutil.copyfile(c.xml(s), c.root / "Annotations" / f"{s}_v2.xml")  # <filename> still names the image
    return Injected(
        "duplicate_annotation",
        c.rel(s),
        "duplicate_annotation",
        "kept",
        "a second XML for the same image (the first one is used)",
    )


def _objects(change: Callable[[Ctx, list[VocObject], int, int], None], kind: str, check: str, action: str, detail: str):
    def inject(c: Ctx, s: str) -> Injected:
        c.edit(s, lambda rec: change(c, rec.objects, rec.width, rec.height))
        return Injected(kind, c.rel(s), check, action, detail)

    return inject


def _scaled_size(c: Ctx, s: str) -> Injected:
    def change(rec: VocRecord) -> None:
        rec.width, rec.height = rec.width * 2, rec.height * 2
        for o in rec.objects:
            o.box = tuple(v * 2 for v in o.box)

    c.edit(s, change)
    return Injected("size_mismatch_scaled", c.rel(s), "size_mismatch", "fixed", "size and boxes recorded at 2x")


def _wrong_size(c: Ctx, s: str) -> Injected:
    c.edit(s, lambda rec: setattr(rec, "width", rec.width + 37))
    return Injected("size_mismatch_other", c.rel(s), "size_mismatch", "quarantined", "recorded width off by 37 px")


def _shift(o: VocObject, dx: float, dy: float) -> None:
    o.box = (o.box[0] + dx, o.box[1] + dy, o.box[2] + dx, o.box[3] + dy)


def _partly_outside(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    x1, _, x2, _ = objs[0].box
    _shift(objs[0], w - x1 - 0.7 * (x2 - x1), 0)  # 70 % inside, past the right edge


def _outside(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs.append(VocObject(objs[0].name, (w + 5, 2, w + 40, 30)))


def _degenerate(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs.append(VocObject(objs[0].name, (10, 10, 10, 30)))


def _inverted(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    x1, y1, x2, y2 = objs[0].box
    objs[0].box = (x2 - 1, y1, x1 + 1, y2)  # swapped so that VOC's +1 on xmin round-trips


def _unknown(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs[0].name = "lizard"


def _alias(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs[0].name = {"rock": "石头", "paper": "Paper", "scissors": "剪刀"}[objs[0].name]


def _duplicate(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs.append(VocObject(objs[0].name, objs[0].box))


def _empty(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs.clear()


def no_box(c: Ctx, s: str) -> Injected:
    text = c.xml(s).read_text()
    start, end = text.index("<bndbox>"), text.index("</bndbox>") + len("</bndbox>")
    c.xml(s).write_text(text[:start] + text[end:])
    return Injected("object_without_box", c.rel(s), "object_without_box", "quarantined", "first <bndbox> removed")


# --- label noise (for cleanlab) ------------------------------------------------------------------------------
def _swap(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    others = [n for n in CLASS_NAMES if n != objs[0].name]
    objs[0].name = others[int(c.rng.integers(len(others)))]


def _shifted(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    x1, y1, x2, y2 = objs[0].box
    dx = 0.5 * (x2 - x1) * (1 if x1 < w / 2 else -1)
    _shift(objs[0], dx, 0)


def _missing(c: Ctx, objs: list[VocObject], w: int, h: int) -> None:
    objs.pop(int(c.rng.integers(len(objs))))


def _leak(c: Ctx, s: str) -> Injected:
    """Replace the image and boxes with a train-source image, rendered bit for bit from the train seed."""
    t = c.params["leak_from"]
    i = int(c.rng.integers(t["count"]))
    n = hand_counts(t["count"], t["multi_fraction"], t["max_hands"], t["seed"])[i]
    im, hands = render_scene(np.random.default_rng([t["seed"], i]), t["width"], t["height"], n)
    im.save(c.img(s), quality=90)
    objects = [VocObject(CLASS_NAMES[h.label], tuple(float(v) for v in h.box)) for h in hands]
    write_voc(c.xml(s), VocRecord(f"{s}.jpg", t["width"], t["height"], 3, objects))
    return Injected("leakage", c.rel(s), "leakage", "kept", f"a copy of train image #{i} (flagged: validate.leakage)")


STRUCTURAL: dict[str, Callable[[Ctx, str], Injected]] = {
    "zero_byte": zero_byte,
    "truncated": truncated,
    "garbage_bytes": garbage,
    "lying_extension": lying_extension,
    "mode_L": _mode("L", ".jpg"),
    "mode_CMYK": _mode("CMYK", ".jpg"),
    "mode_RGBA": _mode("RGBA", ".png"),
    "mode_P": _mode("P", ".png"),
    "mode_I16": _mode("I;16", ".png"),
    "exif_rotated": _exif(6, Image.Transpose.ROTATE_90, "exif_rotated", "exif_orientation", "fixed"),
    "exif_ambiguous": _exif(
        3, Image.Transpose.ROTATE_180, "exif_ambiguous", "exif_orientation_ambiguous", "quarantined"
    ),
    "too_small": _resized("too_small", "too_small", "quarantined", lambda c: (24, 18)),
    "oversized": _resized(
        "oversized", "oversized", "fixed", lambda c: (c.params["oversize_width"], c.params["oversize_width"] * 3 // 4)
    ),
    "decompression_bomb": bomb,
    "unparseable_xml": unparseable,
    "image_without_annotation": no_annotation,
    "annotation_without_image": orphan_annotation,
    "duplicate_annotation": duplicate_annotation,
    "size_mismatch_scaled": _scaled_size,
    "size_mismatch_other": _wrong_size,
    "box_partly_outside": _objects(
        _partly_outside, "box_partly_outside", "box_outside_image", "kept", "first box pushed 30 % past the right edge"
    ),
    "box_outside": _objects(_outside, "box_outside", "box_outside_image", "kept", "a box added beyond the edge"),
    "degenerate_box": _objects(_degenerate, "degenerate_box", "degenerate_box", "kept", "a zero-width box added"),
    "inverted_box": _objects(_inverted, "inverted_box", "inverted_box", "fixed", "xmin and xmax swapped"),
    "unknown_class": _objects(_unknown, "unknown_class", "unknown_class", "quarantined", "class 'lizard'"),
    "alias_class": _objects(_alias, "alias_class", "", "kept", "class written as an alias (石头 / Paper / 剪刀)"),
    "duplicate_box": _objects(_duplicate, "duplicate_box", "duplicate_box", "kept", "first box repeated"),
    "empty_annotation": _objects(_empty, "empty_annotation", "", "kept", "objects removed: a background image now"),
    "object_without_box": no_box,
}
COPIES = ("exact_duplicate", "near_duplicate")
LABEL_NOISE: dict[str, Callable[[Ctx, str], Injected]] = {
    "swapped_class": _objects(_swap, "swapped_class", "label_issue", "label_noise", "first box given another class"),
    "shifted_box": _objects(_shifted, "shifted_box", "label_issue", "label_noise", "first box moved by half its width"),
    "missing_box": _objects(_missing, "missing_box", "label_issue", "label_noise", "one box of several removed"),
}


def _copy(c: Ctx, s: str, kind: str) -> Injected:
    """A second file that copies `s` exactly, or re-encoded a little darker (a near-duplicate)."""
    new = f"{s}_copy"
    if kind == "exact_duplicate":
        shutil.copyfile(c.img(s), c.img(new))
    else:
        arr = np.asarray(_open(c, s), dtype=np.float64) * 0.97
        Image.fromarray(arr.astype(np.uint8)).save(c.img(new), quality=75)
    shutil.copyfile(c.xml(s), c.xml(new))
    # An exact copy with the same boxes goes; a look-alike is flagged and kept (validate.near_duplicates).
    return Injected(
        kind, c.rel(new), kind, "quarantined" if kind == "exact_duplicate" else "kept", f"a copy of {c.rel(s)}"
    )


def inject_defects(root: Path, params: dict) -> list[Injected]:
    """Damage a freshly written VOC source in place; write root/defects_manifest.json; return the manifest.

    params: seed, per_kind (images per structural kind), label_noise (images per noise kind), oversize_width,
    leak_from (the train source's synth settings, or null to skip leakage), kinds (null = all).
    """
    root = Path(root)
    c = Ctx(root, np.random.default_rng(params.get("seed", 0)), {"oversize_width": 2400, "leak_from": None, **params})
    wanted = params.get("kinds") or [*STRUCTURAL, *COPIES, "leakage", *LABEL_NOISE]
    if c.params["leak_from"] is None:
        wanted = [k for k in wanted if k != "leakage"]
    stems = sorted(p.stem for p in (root / "Annotations").glob("*.xml"))
    counts = {s: len(read_voc(c.xml(s)).objects) for s in stems}
    order = [stems[i] for i in c.rng.permutation(len(stems)) if counts[stems[i]] >= 1]
    multi = [s for s in order if counts[s] >= 2]
    per_kind, noise = int(params.get("per_kind", 1)), int(params.get("label_noise", 0))
    manifest, used = [], set()

    def take(pool: list[str], n: int) -> list[str]:
        picked = [s for s in pool if s not in used][:n]
        if len(picked) < n:
            raise ValueError(f"the source has too few suitable images to inject {n} more defects")
        used.update(picked)
        return picked

    for kind in wanted:
        if kind == "missing_box":
            manifest += [LABEL_NOISE[kind](c, s) for s in take(multi, noise)]
        elif kind in LABEL_NOISE:
            manifest += [LABEL_NOISE[kind](c, s) for s in take(order, noise)]
        elif kind in COPIES:
            manifest += [_copy(c, s, kind) for s in take(order, per_kind)]
        elif kind == "leakage":
            manifest += [_leak(c, s) for s in take(order, per_kind)]
        else:
            manifest += [STRUCTURAL[kind](c, s) for s in take(order, per_kind)]
    (root / "defects_manifest.json").write_text(
        json.dumps([asdict(m) for m in manifest], indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def synthesize_source(out: Path, synth: dict[str, Any], side: str) -> dict:
    """Draw the synthetic source `side` of params `synth:` into a fresh `out`, with its injected defects (a
    `leak_from` source is re-rendered from that source's own seed and size). Returns the drawing's counts."""
    source = synth["sources"][side]
    shutil.rmtree(out, ignore_errors=True)
    stats = write_source(
        out,
        prefix=f"synth_{side}",
        count=source["count"],
        multi_fraction=source["multi_fraction"],
        seed=synth["seed"] + source["seed_offset"],
        width=synth["width"],
        height=synth["height"],
        max_hands=synth["max_hands"],
    )
    defects = source.get("defects")
    if defects:
        leak = defects.get("leak_from")
        if leak:
            ref = synth["sources"][leak]
            leak = {
                "seed": synth["seed"] + ref["seed_offset"],
                "count": ref["count"],
                "width": synth["width"],
                "multi_fraction": ref["multi_fraction"],
                "height": synth["height"],
                "max_hands": synth["max_hands"],
            }
        stats["defects"] = len(inject_defects(out, {**defects, "leak_from": leak}))
    return stats
