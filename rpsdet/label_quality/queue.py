"""The review queue a person works through: review.csv (every image, ranked), pairs.csv (near-duplicate pairs
whose labels disagree), review.html (pairs first, side by side, then single suspects, worst first), and the
dataset after review."""

from __future__ import annotations

import csv
import html
import json
from dataclasses import asdict
from pathlib import Path

from PIL import Image, ImageDraw

from rpsdet.classes import CLASS_NAMES
from rpsdet.data.coco import ImageRecord, image_path, to_coco_dict
from rpsdet.data.split import rebase
from rpsdet.label_quality.pairs import Pair
from rpsdet.label_quality.scoring import Review

ACTIONS = ("drop", "keep", "mark")
GREEN, RED = (40, 220, 40), (255, 0, 0)
THUMB = 320


def _draw(coco_path: Path, rec: ImageRecord, suspects: list[tuple[list[float], str]]) -> Image.Image:
    """The image with its labels (green) and the suspect boxes (thick red, with a caption)."""
    with Image.open(image_path(coco_path, rec)) as im:
        im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    for box, label in zip(rec.boxes, rec.labels):
        draw.rectangle(box, outline=GREEN, width=1)
        draw.text((box[0] + 2, box[1] + 1), CLASS_NAMES[label], fill=GREEN)
    for box, caption in suspects:
        draw.rectangle(box, outline=RED, width=3)
        draw.text((box[0] + 2, max(0, box[1] - 11)), caption, fill=RED)
    im.thumbnail((THUMB, THUMB))
    return im


def _side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    out = Image.new("RGB", (left.width + 8 + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + 8, 0))
    return out


def pair_rows(pairs: list[Pair]) -> list[dict]:
    """One row per disagreement, pairs in review order."""
    return [
        {
            "pair": n,
            "side": p.side,
            "image_id": p.record.id,
            "file_name": p.record.file_name,
            "partner_side": p.partner_side,
            "partner_id": p.partner.id,
            "partner_file_name": p.partner.file_name,
            "relation": p.relation,
            "distance": p.distance,
            **asdict(d),
        }
        for n, p in enumerate(pairs, 1)
        for d in p.disagreements
    ]


def write_pairs(out: Path, pairs: list[Pair], coco_paths: dict[str, Path]) -> list[str]:
    """pairs.csv and a side-by-side picture per pair (thumbs/pair_N.jpg); returns the HTML table rows."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "thumbs").mkdir(exist_ok=True)
    rows = pair_rows(pairs)
    with open(out / "pairs.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["pair"])
        writer.writeheader()
        writer.writerows(rows)
    html_rows = []
    for n, p in enumerate(pairs, 1):
        here = [(d.box, f"{d.kind}: {d.label}") for d in p.disagreements if d.box]
        there = [(d.partner_box, f"{d.kind}: {d.partner_label}") for d in p.disagreements if d.partner_box]
        _side_by_side(
            _draw(coco_paths[p.side], p.record, here), _draw(coco_paths[p.partner_side], p.partner, there)
        ).save(out / "thumbs" / f"pair_{n}.jpg", quality=85)
        what = "; ".join(f"{d.kind}: {d.label or '-'} vs {d.partner_label or '-'}" for d in p.disagreements)
        html_rows.append(
            f"<tr><td>{n}</td><td><img src='thumbs/pair_{n}.jpg'></td><td>{p.side}: "
            f"{html.escape(p.record.file_name)}<br>{p.partner_side}: {html.escape(p.partner.file_name)}</td>"
            f"<td>{p.relation}, {p.distance} bits</td><td>{html.escape(what)}</td></tr>"
        )
    return html_rows


def write_singles(out: Path, reviews: list[Review], coco_path: Path, records: list[ImageRecord], top: int) -> list[str]:
    """review.csv (every image, ranked) and a picture of the top ones; returns the HTML table rows."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "thumbs").mkdir(exist_ok=True)
    with open(out / "review.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["rank", *Review.__dataclass_fields__])
        writer.writeheader()
        writer.writerows({"rank": n, **asdict(r)} for n, r in enumerate(reviews, 1))
    by_id = {r.id: r for r in records}
    rows = []
    for n, r in enumerate(reviews[:top], 1):
        suspects = [(r.box, f"{r.kind}: {r.label}")] if r.box else []
        _draw(coco_path, by_id[r.image_id], suspects).save(out / "thumbs" / f"{r.image_id}.jpg", quality=85)
        rows.append(
            f"<tr><td>{n}</td><td><img src='thumbs/{r.image_id}.jpg'></td><td>{html.escape(r.file_name)}"
            f"</td><td>{r.score:.3g}</td><td>{'yes' if r.issue else ''}</td><td>{r.kind}</td>"
            f"<td>{html.escape(r.label)}</td><td>{r.cleanlab_score:.3g}</td></tr>"
        )
    return rows


def write_page(out: Path, title: str, pair_rows_html: list[str], single_rows_html: list[str]) -> None:
    """review.html: both tables, no external resources."""
    pairs = (
        "<h2>Near-duplicate pairs whose labels disagree</h2><p>Validation found these images to be copies of "
        "each other, yet their boxes differ: one of the two is wrong, no model needed. Closest copies first. "
        "Red: the boxes that disagree.</p><table><tr><th>#</th><th>image | partner</th><th>files</th>"
        "<th>relation</th><th>disagreements</th></tr>" + "".join(pair_rows_html) + "</table>"
        if pair_rows_html
        else "<h2>Near-duplicate pairs whose labels disagree</h2><p>None.</p>"
    )
    singles = (
        "<h2>Single images, worst box first</h2><p>Score: the worst box's (0 = surely wrong, 1 = clean). "
        "Green: the labels; red: the most suspicious box. cleanlab: its own image score.</p><table><tr>"
        "<th>#</th><th>image</th><th>file</th><th>score</th><th>issue</th><th>kind</th><th>class</th>"
        "<th>cleanlab</th></tr>" + "".join(single_rows_html) + "</table>"
        if single_rows_html
        else ""
    )
    (out / "review.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>body{{font:14px "
        "sans-serif}td{padding:4px;border-bottom:1px solid #ddd;vertical-align:top}</style>"
        f"<h1>{html.escape(title)}</h1>" + pairs + singles + "\n",
        encoding="utf-8",
    )


def write_reviewed(
    path: Path, coco_path: Path, records: list[ImageRecord], reviews: list[Review], pair_ids: set[int], action: str
) -> int:
    """The dataset after review: images flagged (by the verdict or a disagreeing pair) dropped, kept, or kept and
    marked (label_issue, label_quality on each image entry). Returns the images written."""
    if action not in ACTIONS:
        raise ValueError(f"label_quality.action must be one of {ACTIONS}, got {action!r}")
    flagged = {r.image_id for r in reviews if r.issue} | pair_ids
    kept = [r for r in records if not (action == "drop" and r.id in flagged)]
    data = to_coco_dict(rebase(kept, Path(coco_path).parent, Path(path).parent))
    if action == "mark":
        scores = {r.image_id: r.score for r in reviews}
        for img in data["images"]:
            img["label_issue"] = img["id"] in flagged
            img["label_quality"] = scores[img["id"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    return len(kept)
