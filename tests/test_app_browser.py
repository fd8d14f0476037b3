"""The app in a real browser: Playwright drives Debian's headless Chromium (no browser
download) through what a musician and a dancer do: upload, the guitar's intro as its
reference, separation, soloing the bongo and güira, playing and downloading that mix, and
rating; it saves a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from conftest import si_sdr
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

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium (installed by setup.sh)",
    ),
]


def _download(page, player: str, folder: Path) -> Path:
    """Click a player's download button and keep the file, as a listener would."""
    with page.expect_download() as download:
        page.locator(f"#{player} [data-testid=download-link]").click()
    path = folder / f"{player}-{download.value.suggested_filename}"
    download.value.save_as(path)
    return path


def test_separate_with_a_span_reference_solo_mix_download_and_rate_in_chromium(tmp_path):
    song = tmp_path / "my bachata.wav"
    mixture = write_song(song)
    environment = {"BACHATA_SEP_RATINGS_DB": str(tmp_path / "ratings.sqlite3")}
    with (
        running_app(tmp_path, **environment) as url,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page.set_default_timeout(PAGE_MS)
            page.goto(url)
            page.locator("#song input[type=file]").set_input_files(song)
            page.locator("#song [data-testid=download-link]").wait_for()
            page.get_by_text("References (optional)").click()  # the guitar's intro: 0-4 s
            page.locator("#guitar-span").get_by_role("textbox").fill("0:00-0:04")
            page.locator("#separate").click()

            for name in INSTRUMENTS:
                page.locator(f"#{name}-player [data-testid=download-link]").wait_for(
                    timeout=SEPARATION_MS
                )
                page.locator(f"#{name}-heatmap img").wait_for()
            page.locator("#waveform img").wait_for()
            page.locator("#stems a").first.wait_for()
            assert page.locator("#mixture-heatmap img").is_visible()
            sync_api.expect(page.locator("#guitar-reference-used")).to_contain_text(
                "this song from 0:00.0 to 0:04.0"
            )
            sync_api.expect(page.locator("#bass-reference-used")).to_contain_text(
                "the model's default"
            )

            for name in ("bongo", "guira"):
                page.locator("#solo").get_by_label(name, exact=True).check()
            page.locator("#remix").click()
            page.locator("#mix-player [data-testid=download-link]").wait_for()
            mix, rate = sf.read(_download(page, "mix-player", tmp_path), always_2d=True)
            assert rate == 22050 and mix.shape == mixture.T.shape
            bongo, guira = (
                sf.read(_download(page, f"{name}-player", tmp_path), always_2d=True)[0]
                for name in ("bongo", "guira")
            )
            assert si_sdr((bongo + guira).T, mix.T) > 30  # the two soloed stems, nothing else

            page.locator("#overall-rating input[value=good]").check()
            page.locator("#guitar-rating input[value=fair]").check()
            page.locator("#remix-rating input[value=good]").check()
            page.locator("#rate").click()
            sync_api.expect(page.locator("#rating-status")).to_contain_text(
                "my bachata.wav", timeout=PAGE_MS
            )
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000
