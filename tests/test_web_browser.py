"""The web page in a real browser: `indexer serve` on a free loopback port, driven by headless Chromium.

Listening is what is checked: a hit's play button plays from its jump-in time, a clicked word seeks
there, ``#t=`` starts there, and the lit word keeps up with the audio. Screenshots of the search and
transcript pages go to ``$INDEXER_ARTIFACTS`` (else the test run's temp dir) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Callable

import httpx
import pytest

from .test_web import HOSTILE, ingest, start_server, write_article

pytestmark = pytest.mark.e2e

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
# Installed before any page script runs: the time at which the audio first starts playing. Media
# events do not bubble, but a capturing listener on the document sees them.
RECORD_PLAYING = """
window.__playingAt = null;
document.addEventListener("playing", (e) => {
  if (window.__playingAt === null) window.__playingAt = e.target.currentTime;
}, true);
"""


def _find(names: tuple[str, ...], debian: str) -> str | None:
    if Path(debian).exists():
        return debian
    return next((found for name in names if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    browser_path, driver_path = _find(BROWSERS, "/usr/bin/chromium"), _find(DRIVERS, "/usr/bin/chromedriver")
    if not browser_path or not driver_path:
        pytest.skip("no Chromium and chromedriver on this machine (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1100,760",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_PLAYING})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(sample_index_dir):
    process, url, _ = start_server(sample_index_dir)
    yield url
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("INDEXER_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def audio_id(server) -> str:
    return next(s["id"] for s in httpx.get(server + "api/sources").json() if s["kind"] == "audio")


def open_page(driver, url: str) -> None:
    """Load ``url`` as a new document (a link followed from elsewhere), not as a jump within the page."""
    driver.get("about:blank")
    driver.get(url)


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def player_state(driver) -> dict:
    return driver.execute_script(
        "const p = document.getElementById('player'); const now = document.querySelector('.w.now');"
        "return {paused: p.paused, time: p.currentTime, playingAt: window.__playingAt, src: p.currentSrc,"
        " now: now && parseFloat(now.dataset.s), nowText: now && now.textContent, error: p.error && p.error.code};"
    )


def started_playing(driver) -> dict:
    """Waits for the audio to start and returns the player's state then."""
    return wait_for(lambda: (s := player_state(driver))["playingAt"] is not None and s, "the audio to start playing")


def assert_keeps_playing(driver, since: float) -> None:
    wait_for(lambda: (s := player_state(driver))["time"] > since + 0.3 and not s["paused"], "playback to go on")


def test_a_hits_play_button_plays_from_its_jump_in_time(browser, server, audio_id, artifacts):
    hits = httpx.get(server + "api/search", params={"q": "troops", "kind": "audio"}).json()
    assert hits
    open_page(browser, server + "?q=troops")
    buttons = browser.find_elements("css selector", "li.hit.audio button.play")  # not heard_at's
    assert [float(b.get_attribute("data-start")) for b in buttons] == [h["start"] for h in hits]
    target, hit = buttons[-1], hits[-1]  # not the first: the player must seek, not just start
    assert hit["start"] > 10
    target.click()
    state = started_playing(browser)
    assert abs(state["playingAt"] - hit["start"]) < 0.5, (state, hit)
    assert state["src"].endswith(f"/media/{audio_id}")
    assert_keeps_playing(browser, state["playingAt"])
    browser.save_screenshot(str(artifacts / "search.png"))

    # Another hit of the same audio: the player seeks there.
    browser.execute_script("window.__playingAt = null; document.getElementById('player').pause();")
    first = hits[0]["start"]
    buttons[0].click()
    state = started_playing(browser)
    assert abs(state["playingAt"] - first) < 0.5, (state, first)


def test_clicking_a_word_seeks_there(browser, server, audio_id, artifacts):
    open_page(browser, server + f"audio/{audio_id}")
    words = browser.find_elements("css selector", "#transcript .w")
    word = words[len(words) // 2]
    start = float(word.get_attribute("data-s"))
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", word)
    word.click()
    state = started_playing(browser)
    assert abs(state["playingAt"] - start) < 0.5, (state, start)
    assert_keeps_playing(browser, state["playingAt"])
    assert browser.execute_script("return location.hash") == f"#t={start:g}"
    browser.save_screenshot(str(artifacts / "transcript.png"))


def test_a_time_in_the_link_starts_there(browser, server, audio_id):
    open_page(browser, server + f"audio/{audio_id}#t=60")
    state = started_playing(browser)
    assert abs(state["playingAt"] - 60) < 0.5, state
    assert_keeps_playing(browser, 60)


def test_the_lit_word_follows_playback_and_stays_in_view(browser, server, audio_id):
    transcript = httpx.get(server + f"api/transcript/{audio_id}").json()
    starts = [w["start"] for s in transcript["segments"] for w in s["words"]]
    # Near the end, so the page must scroll to keep the spoken word in view.
    open_page(browser, server + f"audio/{audio_id}#t=110")
    started_playing(browser)
    seen = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        state = player_state(browser)
        if state["now"] is not None:
            # The lit word has started, and is at most a frame or a timeupdate (0.25 s) behind the audio.
            behind = max((s for s in starts if s <= state["time"] - 0.6), default=0.0)
            assert behind <= state["now"] <= state["time"] + 0.05, state
            if not seen or seen[-1] != state["now"]:
                seen.append(state["now"])
        time.sleep(0.1)
    assert len(seen) >= 4 and seen == sorted(seen), seen
    in_view = browser.execute_script(
        "const r = document.querySelector('.w.now').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight;"
    )
    assert in_view


def test_hostile_article_text_stays_text_in_the_browser(browser, tmp_path):
    index_dir = tmp_path / "index"
    ingest(index_dir, write_article(tmp_path, "hostile.txt", HOSTILE))
    process, url, _ = start_server(index_dir)
    try:
        open_page(browser, url + "?q=crane")
        snippets = [e.text for e in browser.find_elements("css selector", ".snippet")]
        assert any("<script>window.__xss = 1</script> the crane" in s for s in snippets), snippets
        assert any('<img src=x onerror="window.__xss = 2">' in s for s in snippets), snippets
        assert browser.execute_script("return window.__xss === undefined && document.images.length === 0")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_url_audio_whose_origin_is_gone_plays_from_the_downloaded_copy(browser, url_audio):
    index_dir, cache, origin = url_audio
    origin.stop()
    process, url, _ = start_server(index_dir, cache=cache)
    try:
        audio_id = httpx.get(url + "api/sources").json()[0]["id"]
        open_page(browser, url + f"audio/{audio_id}#t=30")
        state = started_playing(browser)
        assert state["src"] == url + f"media/{audio_id}"
        assert abs(state["playingAt"] - 30) < 0.5, state
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
