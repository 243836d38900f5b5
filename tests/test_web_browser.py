"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real
``dashcam run --sim`` child: state, record button, virtual panel, preview, gallery and
player, photo. Phone-sized screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.browser_fixtures import PHONE, get_json, module_fixtures, phone_page
from tests.harness import wait_until

ARTIFACTS = Path(__file__).parent / "artifacts"


server, browser = module_fixtures(folder="browser")


@pytest.fixture
def page(browser, server):
    with phone_page(browser, server) as page:
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def state(page) -> str:
    return page.get_attribute("#state", "data-state")


def test_dashboard_loads_and_the_record_button_changes_the_state(page, server):
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    # The clip's elapsed time and the appliance's clock over the live view (no sequence number).
    page.wait_for_function("/^REC \\d+:\\d\\d$/.test(document.getElementById('elapsed').innerText)")
    page.wait_for_function(
        "/^\\d\\d:\\d\\d:\\d\\d$/.test(document.getElementById('clock').innerText)"
    )
    assert page.get_attribute("#record", "aria-pressed") == "true"
    assert page.evaluate("parseFloat(document.querySelector('#bar-free').style.width)") > 0
    assert page.is_visible("#vpanel")  # simulation: the virtual panel is shown
    shot(page, "dashboard-live")
    page.click("#record")
    page.click("#stop-confirm button[value=stop]")  # stopping asks first
    page.wait_for_function("document.querySelector('#state').dataset.state === 'idle'")
    assert get_json(server, "/api/status")["state"] == "idle"
    page.click("#record")
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    assert get_json(server, "/api/status")["state"] == "recording"


def test_the_virtual_record_button_is_mirrored_with_the_led(page, server):
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    page.wait_for_function("document.querySelector('#led').dataset.lit === 'true'")
    assert page.text_content("#led-pattern") == "solid"
    page.click("#vbtn-record")
    page.wait_for_function("document.querySelector('#state').dataset.state === 'idle'")
    page.wait_for_function("document.querySelector('#led-pattern').textContent === 'heartbeat'")
    assert get_json(server, "/api/status")["state"] == "idle"
    # A second page sees the press too (the mirror works for every open dashboard).
    other = page.context.new_page()
    other.goto(server + "/", wait_until="domcontentloaded")
    other.wait_for_function("document.querySelector('#state').dataset.state === 'idle'")
    page.click("#vbtn-record")
    other.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    other.close()


PIXELS = """() => {
  const img = document.querySelector('#preview');
  if (!img.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, Math.ceil(c.height / 4)).data;
  let h = 0; for (let i = 0; i < d.length; i += 7) h = (h * 31 + d[i]) | 0;
  return h;
}"""


def test_preview_frames_arrive(page):
    # The live view starts by itself on the Live tab.
    page.wait_for_function("document.querySelector('#preview').naturalWidth === 320")
    first = page.evaluate(PIXELS)
    # The simulated picture changes every frame (counter bar): new frames keep arriving.
    page.wait_for_function(f"({PIXELS})() !== {first}", timeout=5000)
    shot(page, "dashboard-preview")
    page.click("a[data-tab='settings']")
    assert page.get_attribute("#preview", "src") is None


def test_gallery_plays_a_clip_and_a_new_photo_appears(page, server):
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 2, 20)
    page.click("a[data-tab='gallery']")
    page.wait_for_selector(".tile[data-kind='loop'] img")
    page.wait_for_function(
        "[...document.querySelectorAll('.tile img')].some(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "dashboard-gallery")
    page.click(".tile[data-kind='loop']")
    page.wait_for_function("document.querySelector('#video').readyState >= 2", timeout=10_000)
    page.evaluate("v => { v.muted = true; return v.play(); }", page.query_selector("#video"))
    page.wait_for_function("document.querySelector('#video').currentTime > 0.3", timeout=10_000)
    shot(page, "dashboard-player")
    page.click("#player-close")

    page.click(".chip[data-kind='photo']")
    before = page.eval_on_selector_all(".tile[data-kind='photo']", "els => els.length")
    page.click("a[data-tab='live']")
    page.click("#photo")
    page.click("a[data-tab='gallery']")
    page.wait_for_function(
        f"document.querySelectorAll(\".tile[data-kind='photo'] img\").length > {before}",
        timeout=10_000,
    )
    assert page.eval_on_selector_all(".tile", "els => els.every(e => e.dataset.kind === 'photo')")


def test_settings_and_system_pages(page):
    page.click("a[data-tab='settings']")
    page.wait_for_function("document.querySelector('[name=clip_sec]').value === '2'")
    shot(page, "dashboard-settings")
    page.fill("[name=clip_sec]", "3")
    page.click("#settings button[type=submit]")
    page.wait_for_function(
        "document.querySelector('#settings-msg').textContent.startsWith('Saved')"
    )


def test_the_page_needs_nothing_from_the_internet(browser, server):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    outside = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(server) else outside.append(r.url),
    )
    page.goto(server + "/")
    page.wait_for_selector("#link[data-live='true']")
    assert outside == []
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone"
    context.close()


def test_elapsed_time_advances(page):
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    text = page.text_content("#elapsed")
    t0 = time.monotonic()
    page.wait_for_function(f"document.querySelector('#elapsed').textContent !== {json.dumps(text)}")
    assert time.monotonic() - t0 < 3


def test_screenshot_with_preview_and_clips(page, server):
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 2, 20)
    page.wait_for_function("document.querySelector('#preview').naturalWidth === 320")
    page.wait_for_function("document.querySelector('#lg-loop').textContent !== '0 B'")
    shot(page, "dashboard-readme")
