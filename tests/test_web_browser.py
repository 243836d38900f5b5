"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real
``dashcam run --sim`` child: state, record button, virtual panel, preview, gallery and
player, photo. Phone-sized screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import wait_until
from tests.web_fixtures import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 390, "height": 844}

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (./dev.sh test does)",
        allow_module_level=True,
    )

CONFIG = """\
video_width = 320
video_height = 240
video_fps = 30
video_bitrate = 400000
preview_width = 320
preview_height = 240
segment_seconds = 2.0
min_free_bytes = 0
min_free_percent = 0.0
web_host = "127.0.0.1"
web_port = {port}
"""


def get_json(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=5) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ``dashcam run --sim`` child on a free port; SIGTERM at the end."""
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    config = tmp / "dashcam.toml"
    config.write_text(CONFIG.format(port=port))
    log = open(tmp / "dashcam.log", "wb")  # noqa: SIM115 - closed below
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim"]
        + ["--config", str(config), "--storage", str(tmp / "card")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            return get_json(base, "/api/health")["state"] == "recording"
        except OSError:
            return False

    try:
        assert wait_until(healthy, 30), (tmp / "dashcam.log").read_text()[-3000:]
        yield base
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        finally:
            if child.poll() is None:
                child.kill()
            log.close()
    assert child.returncode == 0, (tmp / "dashcam.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        bypass_csp=True,  # for wait_for_function
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.wait_for_selector("#link[data-live='true']", timeout=10_000)
    yield page
    context.close()
    assert errors == []


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def state(page) -> str:
    return page.get_attribute("#state", "data-state")


def test_dashboard_loads_and_the_record_button_changes_the_state(page, server):
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    page.wait_for_function(
        "/segment \\d{8} · \\d+:\\d\\d/.test(document.querySelector('#elapsed').textContent)"
    )
    assert page.get_attribute("#record", "aria-pressed") == "true"
    assert page.evaluate("parseFloat(document.querySelector('#bar-free').style.width)") > 0
    assert page.is_visible("#vpanel")  # simulation: the virtual panel is shown
    shot(page, "dashboard-live")
    page.click("#record")
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
    other.goto(server + "/")
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
    page.click("#preview-toggle")
    page.wait_for_function("document.querySelector('#preview').naturalWidth === 320")
    first = page.evaluate(PIXELS)
    # The simulated picture changes every frame (counter bar): new frames keep arriving.
    page.wait_for_function(f"({PIXELS})() !== {first}", timeout=5000)
    shot(page, "dashboard-preview")
    page.click("#preview-toggle")
    assert page.is_hidden("#preview-box")


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
    page.wait_for_function("document.querySelector('[name=segment_seconds]').value === '2'")
    shot(page, "dashboard-settings")
    page.fill("[name=segment_seconds]", "3")
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


@pytest.fixture(scope="module", autouse=True)
def keep_one_screenshot_for_the_readme():
    """The README shows one screenshot; refresh it when asked (DASHCAM_UPDATE_DOCS=1)."""
    yield
    source = ARTIFACTS / "dashboard-readme.png"
    if os.environ.get("DASHCAM_UPDATE_DOCS") == "1" and source.exists():
        target = Path(__file__).parents[1] / "web" / "docs" / "dashboard.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)


def test_elapsed_time_advances(page):
    page.wait_for_function("document.querySelector('#state').dataset.state === 'recording'")
    text = page.text_content("#elapsed")
    t0 = time.monotonic()
    page.wait_for_function(f"document.querySelector('#elapsed').textContent !== {json.dumps(text)}")
    assert time.monotonic() - t0 < 3


def test_screenshot_with_preview_and_clips(page, server):
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 2, 20)
    page.click("#preview-toggle")
    page.wait_for_function("document.querySelector('#preview').naturalWidth === 320")
    page.wait_for_function("document.querySelector('#lg-loop').textContent !== '0 B'")
    shot(page, "dashboard-readme")
