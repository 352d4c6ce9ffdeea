"""The phone page in a real browser (Debian chromium driven by Playwright) against a real served model.

Mobile viewport 360x640: wrong password message, language toggle, login, upload, boxes drawn on the canvas, the
second of two served versions picked and named in the answer, expired-token message. A screenshot is saved to
$TEST_ARTIFACTS_DIR (default /tmp/rpsdet-test-artifacts).
"""

import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rpsdet.data.coco import image_path, read_coco
from rpsdet.serve.auth import TokenSigner, UserStore, load_or_create_secret
from rpsdet.serve.config import ServeConfig
from rpsdet.serve.models import served_model
from rpsdet.serve.runner import local_app

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"
BOX_COLORS = {(0xE5, 0x39, 0x35), (0x1E, 0x88, 0xE5), (0x43, 0xA0, 0x47)}  # rock, paper, scissors in app.js
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(tempfile.gettempdir()) / "rpsdet-test-artifacts"))


@pytest.fixture(scope="module")
def server(browser, tiny_checkpoint, tiny_checkpoint_v2, tmp_path_factory):
    """Asks for the browser first: without one the test skips (or fails in CI) before a server starts."""
    root = tmp_path_factory.mktemp("web")
    UserStore(root / "users.json").add("alice", PASSWORD)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ServeConfig.from_params(
        {
            "port": port,
            "threads_per_replica": 1,
            "score_threshold": 0.0,
            "min_score": 0.0,
            "users_file": str(root / "users.json"),
            "secret_file": str(root / "secret"),
        }
    )
    models = [
        served_model(tiny_checkpoint, "model", "v0.0.1", "prod"),
        served_model(tiny_checkpoint_v2, "model", "v0.0.2", "dev", {"map50": 0.5}),
    ]
    with local_app(models, cfg, num_cpus=2) as url:
        yield {"url": url, "secret": load_or_create_secret(root / "secret")}


@pytest.fixture(scope="module")
def page(server, browser):
    context = browser.new_context(
        viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True, device_scale_factor=2, locale="en-US"
    )
    context.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(server["url"]) else route.abort()
    )  # the page must need nothing from outside the server
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_phone_page_logs_in_uploads_and_draws_detections(server, page, tiny_splits):
    page.goto(server["url"] + "/")
    camera = page.locator("#camera")
    assert camera.get_attribute("accept") == "image/*" and camera.get_attribute("capture") == "environment"
    assert page.locator("#login").bounding_box()["height"] >= 44  # touch-sized

    page.fill("#username", "alice")
    page.fill("#password", "not the password")
    page.click("#login")
    page.wait_for_selector("#message:not([hidden])")
    assert page.text_content("#message") == "Wrong user name or password."

    page.click("#lang")
    assert page.text_content("h1") == "石头 · 剪刀 · 布" and page.text_content("#login") == "登录"
    page.click("#lang")
    assert page.text_content("#login") == "Log in"

    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#model option", state="attached")
    assert "v0.0.1 (prod)" in page.text_content("#model")

    test_json = tiny_splits / "test.json"
    photo = image_path(test_json, read_coco(test_json)[0])
    page.set_input_files("#picker", str(photo))
    page.wait_for_selector("#canvas[data-boxes]")
    drawn = int(page.get_attribute("#canvas", "data-boxes"))
    labels = page.locator("#detections li").evaluate_all("items => items.map(i => i.dataset.label)")
    assert drawn == len(labels) > 0 and set(labels) <= {"rock", "paper", "scissors"}
    assert "v0.0.1" in page.text_content("#status") and " ms" in page.text_content("#status")

    pixels = np.array(
        page.evaluate("""() => {
        const c = document.getElementById('canvas');
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
    }"""),
        dtype=np.uint8,
    ).reshape(-1, 4)[:, :3]
    original = np.asarray(Image.open(photo).convert("RGB")).reshape(-1, 3)
    assert len(pixels) == len(original)  # drawn at the photo's own size: boxes are in its pixels

    def box_pixels(rgb: np.ndarray) -> int:
        return sum(int(np.all(rgb == c, axis=1).sum()) for c in BOX_COLORS)

    assert box_pixels(pixels) > box_pixels(original) + 50  # the boxes are really on the canvas

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone_page.png"), full_page=True)


def test_picking_the_second_version_sends_it_and_the_answer_names_it(server, page, tiny_splits):
    assert page.is_visible("#model-picker")  # two versions served: the picker shows
    options = page.locator("#model option").evaluate_all("items => items.map(i => [i.value, i.textContent])")
    assert [value for value, _ in options] == ["v0.0.1", "v0.0.2"]
    assert "v0.0.2 (dev)" in options[1][1] and "mAP50 0.500" in options[1][1]
    page.select_option("#model", "v0.0.2")
    page.click("#lang")  # the picker's label in both languages
    assert page.text_content("#model-picker span") == "模型版本"
    page.click("#lang")
    assert page.text_content("#model-picker span") == "Model version"
    test_json = tiny_splits / "test.json"
    page.evaluate("() => document.getElementById('canvas').removeAttribute('data-boxes')")
    with page.expect_response("**/api/v1/detect") as answer:
        page.set_input_files("#picker", str(image_path(test_json, read_coco(test_json)[0])))
    assert answer.value.request.headers["serve-multiplexed-model-id"] == "v0.0.2"
    assert answer.value.json()["model"]["version"] == "v0.0.2"
    page.wait_for_selector("#canvas[data-boxes]")
    assert "v0.0.2" in page.text_content("#status")


def test_expired_token_sends_the_user_back_to_login_with_a_message(server, page, tiny_splits):
    expired = TokenSigner(server["secret"], 60).issue("alice", now=time.time() - 3600)[0]
    page.evaluate(
        """token => {  // the server expired it although this phone's clock still trusts it
        sessionStorage.setItem('rpsdet-token', token);
        sessionStorage.setItem('rpsdet-expires', String(Date.now() / 1000 + 600));
    }""",
        expired,
    )
    test_json = tiny_splits / "test.json"
    page.set_input_files("#picker", str(image_path(test_json, read_coco(test_json)[1])))
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.text_content("#message") == "Your session has expired. Please log in again."
