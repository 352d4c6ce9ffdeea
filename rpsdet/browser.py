"""Headless Debian chromium driven by Playwright: how the browser tests and the README pictures open pages.

Never a browser that a tool downloads itself (`playwright install`): the system's chromium, flags that keep it
offline and quiet.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def missing_browser() -> list[str]:
    """What is missing to drive the browser, each with how to install it; empty when all is there."""
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian chromium: `sudo apt-get install -y chromium` (never `playwright install`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package: `pip install -e '.[test]'`")
    return missing


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright Browser on the system chromium; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()
