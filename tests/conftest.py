"""Shared test fixtures: the real recordings in ../shared/audio and small generated signals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
#: Real speech and music recordings beside the checkout (see ../shared/audio/README.md).
SHARED_AUDIO = REPO.parent / "shared" / "audio"


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """Folder with ``speech/`` and ``music/`` real recordings; the tests need it."""
    if not (SHARED_AUDIO / "speech").is_dir():
        pytest.fail(f"real test audio not found at {SHARED_AUDIO} (CI puts shared/ beside the checkout)")
    return SHARED_AUDIO


# -- pages in a real browser ---------------------------------------------------------------------
#: Where page tests save their screenshots: docs/ when JAZZCNN_UPDATE_SCREENSHOTS=1 (to refresh the
#: README's pictures), else a temporary folder.
SCREENSHOTS = REPO / "docs" if os.environ.get("JAZZCNN_UPDATE_SCREENSHOTS") == "1" else None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package) driven by Playwright.

    Skipped when no Chromium is installed, unless JAZZCNN_REQUIRE_BROWSER=1 (set by .ci/run, which
    installs it): there a missing browser fails the suite instead of hiding the page tests.
    """
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("JAZZCNN_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required (JAZZCNN_REQUIRE_BROWSER=1) but not installed: apt-get install chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


class PageCheck:
    """A page opened in the browser, with every console error and failed request it caused."""

    def __init__(self, browser, url: str, screenshot: Path | None = None, width: int = 1200):
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed: {r.url} ({r.failure})"))
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(screenshot), full_page=False)

    def broken_images(self) -> list[str]:
        return self.page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                                  ".map(i => i.src)")

    def audio_sources(self) -> list[str]:
        return self.page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => a.src)")

    def close(self) -> None:
        self.page.close()


def file_of(src: str) -> Path:
    """The local file a ``file://`` URL names (its media fragment dropped)."""
    from urllib.parse import unquote, urlsplit

    return Path(unquote(urlsplit(src).path))
