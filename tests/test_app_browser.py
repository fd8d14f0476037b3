"""The app in a real browser: Playwright drives Debian's headless Chromium (no browser
download) through upload, separation and rating, and saves a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_app import running_app, write_song

from bachata_sep.spec import INSTRUMENTS

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "app.png"
PAGE_MS = 60_000
SEPARATION_MS = 180_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium (installed by setup.sh)",
)


def test_upload_separate_and_rate_in_chromium(tmp_path):
    song = tmp_path / "my bachata.wav"
    write_song(song)
    environment = {"BACHATA_SEP_RATINGS_DB": str(tmp_path / "ratings.sqlite3")}
    with (
        running_app(tmp_path, **environment) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(PAGE_MS)
            page.goto(url)
            page.locator("#song input[type=file]").set_input_files(song)
            page.locator("#song [data-testid=download-link]").wait_for()
            page.locator("#separate").click()

            for name in INSTRUMENTS:
                page.locator(f"#{name}-player [data-testid=download-link]").wait_for(
                    timeout=SEPARATION_MS
                )
                page.locator(f"#{name}-heatmap img").wait_for()
            page.locator("#waveform img").wait_for()
            page.locator("#stems a").first.wait_for()
            assert page.locator("#mixture-heatmap img").is_visible()

            page.locator("#overall-rating input[value=good]").check()
            page.locator("#guitar-rating input[value=fair]").check()
            page.locator("#rate").click()
            sync_api.expect(page.locator("#rating-status")).to_contain_text(
                "my bachata.wav", timeout=PAGE_MS
            )
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
