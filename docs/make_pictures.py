"""Regenerate the README's pictures from a finished run (`make pictures`, after `dvc repro`):

- docs/gallery.png   the top of round 2's prediction gallery (data/eval/round2/gallery/index.html)
- docs/pr_curve.png  round 2's precision-recall curves per class (metrics/eval_round2/pr/*.csv)
- docs/phone.png     the phone page at 360x640, logged in, with round 2's detections on a test photo

All three are drawn by the project's own tools: the pages as they are, in the system chromium (rpsdet.browser);
the PR curve as an SVG drawn here from the CSVs (matplotlib is not a dependency) and rendered by the same
browser; the phone page served by the real app (Ray Serve, rpsdet.serve.runner.local_app) with a throwaway user.
Each PNG is reduced to a palette until it is under 150 KB, so the README stays light.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rpsdet.browser import chromium, missing_browser  # noqa: E402
from rpsdet.classes import CLASS_NAMES  # noqa: E402

MAX_BYTES = 150 * 1024
CLASS_COLOURS = {"rock": "#E53935", "paper": "#1E88E5", "scissors": "#43A047"}  # as the phone page draws boxes
PHONE = {"width": 360, "height": 640}


def save_small_png(png: bytes, out: Path, max_bytes: int = MAX_BYTES) -> int:
    """Write a screenshot as PNG under `max_bytes`: as is if it fits, else with fewer palette colours, then smaller.
    Returns the bytes written."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    attempts = [(image, None)] + [(image, colours) for colours in (256, 128, 64)]
    attempts += [
        (image.resize((round(image.width * f), round(image.height * f)), Image.Resampling.LANCZOS), 64)
        for f in (0.85, 0.7, 0.55)
    ]
    for candidate, colours in attempts:
        buffer = io.BytesIO()
        (candidate if colours is None else candidate.quantize(colours, dither=Image.Dither.NONE)).save(
            buffer, "PNG", optimize=True
        )
        if buffer.tell() <= max_bytes:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(buffer.getvalue())
            return buffer.tell()
    raise ValueError(f"{out.name}: no PNG under {max_bytes // 1024} KB even at 64 colours and 55 % of the size")


def read_curves(pr_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """recall, precision points per class from evaluate's pr/<class>.csv files."""
    curves = {}
    order = {name: i for i, name in enumerate(CLASS_NAMES)}
    for path in sorted(pr_dir.glob("*.csv"), key=lambda p: (order.get(p.stem, len(order)), p.stem)):
        with open(path, newline="") as fh:
            curves[path.stem] = [(float(row["recall"]), float(row["precision"])) for row in csv.DictReader(fh)]
    if not curves:
        raise FileNotFoundError(f"no PR curves in {pr_dir}: run the pipeline first (dvc repro)")
    return curves


def pr_svg(curves: dict[str, list[tuple[float, float]]], ap50: dict[str, float], title: str) -> str:
    """A 700x420 SVG: precision against recall, one line per class, grid every 0.2, AP50 in the legend."""
    left, top, size_x, size_y = 60, 40, 420, 320

    def x(r: float) -> float:
        return left + r * size_x

    def y(p: float) -> float:
        return top + (1 - p) * size_y

    parts = [f'<text x="{left}" y="24" font-size="16" font-weight="600">{title}</text>']
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts += [
            f'<line x1="{x(tick)}" y1="{y(0)}" x2="{x(tick)}" y2="{y(1)}" stroke="#ddd"/>',
            f'<line x1="{x(0)}" y1="{y(tick)}" x2="{x(1)}" y2="{y(tick)}" stroke="#ddd"/>',
            f'<text x="{x(tick)}" y="{y(0) + 18}" text-anchor="middle" font-size="12">{tick:.1f}</text>',
            f'<text x="{x(0) - 8}" y="{y(tick) + 4}" text-anchor="end" font-size="12">{tick:.1f}</text>',
        ]
    parts += [
        f'<rect x="{x(0)}" y="{y(1)}" width="{size_x}" height="{size_y}" fill="none" stroke="#444"/>',
        f'<text x="{x(0.5)}" y="{y(0) + 38}" text-anchor="middle" font-size="13">recall</text>',
        f'<text x="18" y="{y(0.5)}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 18 {y(0.5)})">precision</text>',
    ]
    for i, (name, points) in enumerate(curves.items()):
        colour = CLASS_COLOURS.get(name, "#555")
        line = " ".join(f"{x(r):.1f},{y(p):.1f}" for r, p in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        label = f"{name}  AP50 {ap50[name]:.3f}" if name in ap50 else name
        parts += [
            f'<line x1="500" y1="{70 + 26 * i}" x2="525" y2="{70 + 26 * i}" stroke="{colour}" stroke-width="3"/>',
            f'<text x="532" y="{75 + 26 * i}" font-size="13">{label}</text>',
        ]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="700" height="420" font-family="system-ui, sans-serif" '
        f'style="background:#fff">{"".join(parts)}</svg>'
    )


def pr_picture(browser, pr_dir: Path, eval_json: Path | None, title: str, out: Path) -> int:
    per_class = json.loads(eval_json.read_text())["per_class"] if eval_json and eval_json.is_file() else {}
    svg = pr_svg(read_curves(pr_dir), {k: v["ap50"] for k, v in per_class.items()}, title)
    page = browser.new_page(viewport={"width": 700, "height": 420})
    page.set_content(f'<html><body style="margin:0">{svg}</body></html>')
    png = page.locator("svg").screenshot()
    page.close()
    return save_small_png(png, out)


def gallery_picture(browser, index_html: Path, out: Path) -> int:
    """The gallery's first screen at a laptop-ish 960x600: summary, filters and the worst tiles."""
    if not index_html.is_file():
        raise FileNotFoundError(f"{index_html} not found: run the pipeline first (dvc repro)")
    page = browser.new_page(viewport={"width": 960, "height": 600})
    page.goto(index_html.resolve().as_uri())
    page.wait_for_function(
        "Array.from(document.querySelectorAll('.card img'))"
        ".filter(i => i.getBoundingClientRect().top < innerHeight)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    png = page.screenshot()
    page.close()
    return save_small_png(png, out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_photo(test_json: Path) -> Path:
    """The first test image with the most hands: the scene the failure-slice loop is about."""
    from rpsdet.data.coco import image_path, read_coco

    records = read_coco(test_json)
    if not records:
        raise ValueError(f"{test_json} holds no images")
    return image_path(test_json, max(records, key=lambda r: len(r.boxes)))


def cjk_font_missing() -> bool:
    """The phone page's language button reads 中文: without a CJK font chromium draws empty boxes instead."""
    try:
        found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    except OSError:  # no fontconfig tools: cannot tell
        return False
    return not found.strip()


def phone_picture(browser, checkpoint: Path, photo: Path, score_threshold: float, out: Path) -> int:
    """Serve `checkpoint` with the real app on loopback, log in as a throwaway user, detect on `photo`."""
    if cjk_font_missing():
        print(
            "warning: no Chinese font, the page's 中文 button will show empty boxes in docs/phone.png "
            "(sudo apt-get install -y fonts-noto-cjk)",
            file=sys.stderr,
        )
    from rpsdet.serve.auth import UserStore
    from rpsdet.serve.config import ServeConfig
    from rpsdet.serve.models import served_model
    from rpsdet.serve.runner import local_app

    password = secrets.token_urlsafe(12)
    with tempfile.TemporaryDirectory() as tmp:
        UserStore(Path(tmp) / "users.json").add("demo", password)
        cfg = ServeConfig.from_params(
            {
                "port": _free_port(),
                "threads_per_replica": 1,
                "score_threshold": score_threshold,
                "users_file": str(Path(tmp) / "users.json"),
                "secret_file": str(Path(tmp) / "secret"),
            }
        )
        with local_app([served_model(checkpoint, "model", "local")], cfg, num_cpus=2) as url:
            context = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1, locale="en-US"
            )
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(url + "/")
            page.fill("#username", "demo")
            page.fill("#password", password)
            page.click("#login")
            page.wait_for_selector("#app:not([hidden])")
            page.set_input_files("#picker", str(photo))
            page.wait_for_selector("#canvas[data-boxes]")
            png = page.screenshot()
            context.close()
    return save_small_png(png, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round", default="round2", help="whose gallery, curves and model (default round2)")
    parser.add_argument("--root", default=str(ROOT), help="the project folder of the finished run")
    parser.add_argument(
        "--test-json", help="test split for the phone photo (default data/splits/<split.version>/test.json)"
    )
    parser.add_argument("--checkpoint", help="model to serve (default models/<round>/model.pt)")
    parser.add_argument("--score-threshold", type=float, help="phone page threshold (default serve.score_threshold)")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNGs go (default docs/)")
    parser.add_argument("--only", nargs="+", choices=("gallery", "pr", "phone"), default=("gallery", "pr", "phone"))
    args = parser.parse_args(argv)

    missing = missing_browser()
    if missing:
        print("make pictures needs " + " and ".join(missing), file=sys.stderr)
        return 2
    from rpsdet.params import load_params

    root, out = Path(args.root), Path(args.out)
    params = load_params(root / "params.yaml") if (root / "params.yaml").is_file() else {}
    test_json = Path(
        args.test_json or root / "data/splits" / params.get("split", {}).get("version", "v1") / "test.json"
    )
    threshold = (
        args.score_threshold
        if args.score_threshold is not None
        else params.get("serve", {}).get("score_threshold", 0.4)
    )
    written = {}
    with chromium() as browser:
        if "gallery" in args.only:
            written["gallery.png"] = gallery_picture(
                browser, root / "data/eval" / args.round / "gallery/index.html", out / "gallery.png"
            )
        if "pr" in args.only:
            written["pr_curve.png"] = pr_picture(
                browser,
                root / "metrics" / f"eval_{args.round}" / "pr",
                root / "metrics" / f"eval_{args.round}.json",
                f"Precision-recall at IoU 0.5, {args.round} (test set)",
                out / "pr_curve.png",
            )
        if "phone" in args.only:
            checkpoint = Path(args.checkpoint or root / "models" / args.round / "model.pt")
            written["phone.png"] = phone_picture(
                browser, checkpoint, pick_photo(test_json), threshold, out / "phone.png"
            )
    for name, size in written.items():
        print(f"{out / name}: {size / 1024:.0f} KB")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (OSError, ValueError) as exc:  # a run not finished yet, a missing file: say which, no traceback
        print(f"make pictures: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
