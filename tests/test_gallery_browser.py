"""The prediction gallery in a real browser: Roboflow's long `..._jpg.rf.<hash>.jpg` names stay inside their tiles,
with the full name on hover and in the enlarged view."""

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import ImageRecord, write_coco
from rpsdet.evaluate.gallery import write_gallery
from rpsdet.evaluate.matching import match_image

LONG = "IMG_20230714_101512_hand_gesture_frame_000123_jpg.rf.8c4d0f1b2e3a4c5d6e7f8091a2b3c4d5.jpg"
TRAIN_TWIN = "images/IMG_20230714_101512_hand_gesture_frame_000122_jpg.rf.0f1e2d3c4b5a69788796a5b4c3d2e1f0.jpg"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """Six 320x240 images: long Roboflow names (one leaked, naming its long train twin), and one short name."""
    root = tmp_path_factory.mktemp("gallery")
    (root / "images").mkdir()
    records = []
    for i in range(6):
        name = "short.jpg" if i == 5 else LONG.replace("000123", f"{123 + i:06d}")
        flags = {"leakage": {"reference": TRAIN_TWIN, "distance": 2, "kind": "near"}} if i == 1 else {}
        records.append(ImageRecord(i + 1, f"images/{name}", 320, 240, [(40.0, 30.0, 160.0, 150.0)], [i % 3], flags))
        Image.new("RGB", (320, 240), (90 + 20 * i, 120, 140)).save(root / records[-1].file_name)
    coco = root / "test.json"
    write_coco(coco, records)
    errors = {
        r.id: match_image(
            np.asarray(r.boxes),
            np.asarray(r.labels),
            np.asarray([[45.0, 35.0, 150.0, 150.0]]),
            np.asarray([(r.id + 1) % 3]),
            np.asarray([0.8]),
        )
        for r in records
    }
    attributes = {r.id: {"objects": 1, "brightness": "normal", "blur": "sharp"} for r in records}
    return write_gallery(root / "gallery", coco, records, errors, attributes, ["rock", "paper", "scissors"])


# Per tile: elements whose content spills out visibly (overflow visible and wider than their box: text running over
# the next tile), whether every element box stays inside the tile, and how its name is shown.
TILES = """() => Array.from(document.querySelectorAll('.card')).map(card => {
    const box = card.getBoundingClientRect(), name = card.querySelector('.name');
    const all = [card, ...card.querySelectorAll('*')];
    const spills = all.filter(el => getComputedStyle(el).overflowX === 'visible' && el.scrollWidth > el.clientWidth + 1)
                      .map(el => el.className || el.tagName);
    const inside = all.every(el => {
        const r = el.getBoundingClientRect();
        return r.width === 0 || (r.left >= box.left - 0.5 && r.right <= box.right + 0.5);
    });
    return {left: box.left, right: box.right, top: box.top, spills, inside, title: name.title, text: name.textContent,
            shortened: name.scrollWidth > name.clientWidth};
})"""


@pytest.mark.parametrize("width", [1000, 360])
def test_long_names_stay_inside_their_tiles_with_the_full_name_on_hover(browser, gallery, width):
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(gallery.as_uri())
    cards = page.evaluate(TILES)
    page.close()
    assert len(cards) == 6
    for card in cards:
        assert card["inside"] and card["spills"] == [], card
        assert card["title"] == card["text"]  # hover shows the whole name
    long_cards = [c for c in cards if c["text"] != "short.jpg"]
    assert all(
        c["shortened"] and c["text"].endswith("_jpg.rf.8c4d0f1b2e3a4c5d6e7f8091a2b3c4d5.jpg") for c in long_cards
    )
    assert not next(c for c in cards if c["text"] == "short.jpg")["shortened"]
    rows: dict[float, list[dict]] = {}
    for card in cards:
        rows.setdefault(round(card["top"]), []).append(card)
    if width == 1000:
        assert max(map(len, rows.values())) >= 3  # several tiles per row on a wide screen...
    for row in rows.values():  # ...and none runs over its neighbour
        row.sort(key=lambda c: c["left"])
        assert all(a["right"] <= b["left"] for a, b in zip(row, row[1:]))


def test_the_enlarged_view_shows_the_image_and_its_full_name(browser, gallery):
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    page.goto(gallery.as_uri())
    first = page.locator(".card").first
    name = first.get_attribute("data-name")
    assert name.endswith(".jpg") and len(name) > 60
    first.locator("a").click()
    page.wait_for_selector("#viewer[open]")
    assert page.text_content("#viewer-name") == name
    page.wait_for_function("document.getElementById('viewer-img').naturalWidth === 320")
    assert page.locator("#viewer-name").bounding_box()["width"] <= 1000
    page.click("#viewer button")
    page.wait_for_selector("#viewer:not([open])", state="attached")
    page.close()
