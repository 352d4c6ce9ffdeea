"""A static prediction gallery (no CDN, opens from the file system): worst images first, filter by slice and by
leakage (test images that copy a training image are marked, and can be shown alone or hidden)."""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image, ImageDraw

from rpsdet.data.coco import ImageRecord, image_path
from rpsdet.evaluate.leakage import is_leaked, leak_note
from rpsdet.evaluate.matching import ImageErrors
from rpsdet.evaluate.slices import standard_rules

COLOURS = {
    "gt": (40, 200, 40),
    "tp": (30, 120, 255),
    "fp": (230, 30, 30),
    "fn": (255, 150, 0),
    "wrong_class": (220, 0, 220),
}
LEGEND = {"gt": "ground truth", "tp": "correct", "fp": "false alarm", "fn": "missed", "wrong_class": "wrong class"}
THUMB_WIDTH = 240

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>rpsdet prediction gallery</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1rem; background: #fafafa; }}
.bar {{ display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; margin-bottom: 1rem; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax({thumb}px, 1fr)); gap: .75rem; }}
.card {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .4rem; min-width: 0; }}
.card.bad {{ border-color: #e33; }}
.leak {{ color: #a15c00; font-weight: 600; }}
.card img {{ width: 100%; display: block; }}
.meta {{ font-size: 12px; color: #444; overflow-wrap: anywhere; }}
.name {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-weight: 600; }}
dialog {{ max-width: 95vw; max-height: 95vh; padding: .5rem; border: 0; border-radius: 6px; }}
dialog img {{ width: min(90vw, 720px); max-height: 80vh; object-fit: contain; display: block; }}
dialog p {{ margin: .4rem 0 0; overflow-wrap: anywhere; }}
.key span {{ display: inline-block; padding: 0 .4rem; margin-right: .3rem; color: #fff; border-radius: 3px; }}
</style></head><body>
<h1>Prediction gallery</h1>
<p>{summary}</p>
<div class="key">{legend}</div>
<div class="bar">
 <label>Slice <select id="slice"><option value="">all images</option>{options}</select></label>
 <label>Test images <select id="leakage"><option value="">all</option>
  <option value="0">leak-free only</option><option value="1">leaked only (copies of training images)</option>
 </select></label>
 <label><input type="checkbox" id="errors"> only images with errors</label>
 <span id="count"></span>
</div>
<div class="grid" id="grid">{cards}</div>
<dialog id="viewer"><img id="viewer-img" alt=""><p id="viewer-name"></p>
 <form method="dialog"><button>Close</button></form></dialog>
<script>
const slice = document.getElementById("slice"), onlyErrors = document.getElementById("errors");
const leakage = document.getElementById("leakage");
function apply() {{
  let shown = 0;
  for (const card of document.querySelectorAll(".card")) {{
    const ok = (!slice.value || card.dataset.slices.split(" ").includes(slice.value)) &&
               (!onlyErrors.checked || card.dataset.errors !== "0") &&
               (!leakage.value || card.dataset.leaked === leakage.value);
    card.style.display = ok ? "" : "none";
    shown += ok;
  }}
  document.getElementById("count").textContent = shown + " images";
}}
slice.onchange = apply; onlyErrors.onchange = apply; leakage.onchange = apply; apply();
const viewer = document.getElementById("viewer");
for (const link of document.querySelectorAll(".card a")) {{
  link.onclick = event => {{  // enlarge in place, with the full file name (the tile may shorten it)
    event.preventDefault();
    document.getElementById("viewer-img").src = link.href;
    document.getElementById("viewer-name").textContent = link.closest(".card").dataset.name;
    viewer.showModal();
  }};
}}
viewer.onclick = event => {{ if (event.target === viewer) viewer.close(); }};
</script></body></html>
"""


def draw_errors(image: Image.Image, record: ImageRecord, errors: ImageErrors, names: list[str]) -> Image.Image:
    """Ground truth in thin green; each outcome in its colour with a label (FP red, FN orange, wrong class magenta)."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    for box in record.boxes:
        draw.rectangle(box, outline=COLOURS["gt"], width=1)
    for o in errors.outcomes:
        colour = COLOURS[o.kind]
        draw.rectangle(o.box, outline=colour, width=2)
        if o.kind == "fn":
            text = f"missed {names[o.gt_label]}"
        elif o.kind == "wrong_class":
            text = f"{names[o.pred_label]}≠{names[o.gt_label]} {o.score:.2f}"
        else:
            text = f"{names[o.pred_label]} {o.score:.2f}"
        x, y = o.box[0], max(0.0, o.box[1] - 11)
        draw.rectangle(draw.textbbox((x, y), text), fill=colour)
        draw.text((x, y), text, fill=(255, 255, 255))
    return out


def write_gallery(
    out_dir: Path,
    coco_path: Path,
    records: list[ImageRecord],
    errors: dict[int, ImageErrors],
    attributes: dict[int, dict],
    names: list[str],
) -> Path:
    """Write full/ and thumbs/ annotated images and index.html, in the order given (worst first)."""
    (out_dir / "full").mkdir(parents=True, exist_ok=True)
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    cards, slice_values = [], set()
    n_bad = n_leaked = 0
    for rec in records:
        err = errors[rec.id]
        stem = f"{rec.id}"
        with Image.open(image_path(coco_path, rec)) as im:
            full = draw_errors(im, rec, err, names)
        full.save(out_dir / "full" / f"{stem}.jpg", quality=90)
        thumb = full.copy()
        thumb.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 4))
        thumb.save(out_dir / "thumbs" / f"{stem}.jpg", quality=85)
        attrs = attributes[rec.id]
        tags = [str(rule) for rule in standard_rules() if rule.matches(attrs)]
        slice_values.update(tags)
        n_errors = err.count("fp") + err.count("fn") + err.count("wrong_class")
        n_bad += n_errors > 0
        leaked = is_leaked(rec)
        n_leaked += leaked
        leak = f'<br><span class="leak">leaked: {html.escape(leak_note(rec))}</span>' if leaked else ""
        counts = ", ".join(f"{err.count(k)} {LEGEND[k]}" for k in ("tp", "fp", "fn", "wrong_class") if err.count(k))
        name = html.escape(Path(rec.file_name).name)
        cards.append(  # long names (Roboflow's ..._jpg.rf.<hash>.jpg) end in an ellipsis; hover or enlarge for all
            f'<div class="card{" bad" if n_errors else ""}" data-slices="{html.escape(" ".join(tags))}" '
            f'data-errors="{n_errors}" data-leaked="{int(leaked)}" data-name="{name}"><a href="full/{stem}.jpg" '
            f'target="_blank"><img loading="lazy" src="thumbs/{stem}.jpg" alt="{name}"></a>'
            f'<div class="meta"><div class="name" title="{name}">{name}</div>{html.escape(counts or "no boxes")}'
            f"<br>{html.escape(' · '.join(tags))}{leak}</div></div>"
        )
    legend = "".join(f'<span style="background: rgb{COLOURS[k]}">{LEGEND[k]}</span>' for k in COLOURS)
    options = "".join(f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in sorted(slice_values))
    summary = (
        f"{len(records)} images, {n_bad} with at least one error, {n_leaked} leaked (copies of a training "
        "image); sorted worst first. Click an image to enlarge it with its full file name."
    )
    page = PAGE.format(
        thumb=THUMB_WIDTH, summary=html.escape(summary), legend=legend, options=options, cards="\n".join(cards)
    )
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "index.html"
