"""GPS on the dashboard (web/static/track.js) in a real browser (Debian's Chromium driven by
Playwright) against a real ``dashcam run --sim`` child reading a real gpsd (gpsfake)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.harness import wait_until
from tests.test_gps import START, _gpsfake
from tests.web_fixtures import free_port

CHROMIUM = "/usr/bin/chromium"
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (dev extra)"
)
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package)", allow_module_level=True)

CONFIG = """\
video_width = 320
video_height = 240
video_fps = 30
video_bitrate = 400000
segment_seconds = 2.0
min_free_bytes = 0
min_free_percent = 0.0
web_host = "127.0.0.1"
web_port = {port}
gps = "gpsd"
gps_port = {gps_port}
"""


def get_json(base: str, path: str):
    with urllib.request.urlopen(base + path, timeout=5) as resp:
        return json.load(resp)


def track_of(base: str, item) -> dict | None:
    try:
        return get_json(base, f"/api/items/{item['id']}/track")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ``dashcam run --sim`` child with gps = "gpsd" fed by gpsfake; SIGTERM at the end."""
    tmp = tmp_path_factory.mktemp("track-ui")
    feeder = _gpsfake(tmp, START)
    gps_port = next(feeder)
    port = free_port()
    config = tmp / "dashcam.toml"
    config.write_text(CONFIG.format(port=port, gps_port=gps_port))
    log = open(tmp / "dashcam.log", "wb")  # noqa: SIM115 - closed below
    child = subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim"]
        + ["--config", str(config), "--storage", str(tmp / "card")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    found: dict = {}

    def clips_with_and_without_track() -> bool:
        try:
            items = get_json(base, "/api/items?limit=50")["items"]
            for item in items:
                if item["video"] and ("with" not in found or "without" not in found):
                    track = track_of(base, item)
                    if track is not None:
                        found.setdefault("with", (item, track))
                    elif "with" in found:  # recorded after the drive ended
                        found.setdefault("without", (item, None))
        except OSError:
            return False
        return "with" in found and "without" in found

    try:
        assert wait_until(clips_with_and_without_track, 60, 0.5), (tmp / "dashcam.log").read_text()[
            -3000:
        ]
        yield base, found
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(20)
        finally:
            if child.poll() is None:
                child.kill()
            log.close()
            feeder.close()
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
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server[0] + "/")
    page.wait_for_selector("#link[data-live='true']", timeout=10_000)
    yield page
    context.close()
    assert errors == []


def test_live_shows_the_fix_and_the_speed(page) -> None:
    page.wait_for_function(
        "/^GPS 3D fix · \\d+ km\\/h$/.test(document.querySelector('#live-extra #gps-line')"
        "?.textContent || '')",
        timeout=10_000,
    )
    assert page.get_attribute("#gps-line", "data-fix") == "true"
    assert page.is_visible("#gps-line")


def test_the_player_draws_the_clips_route_and_speed_and_nothing_without_a_track(
    page, server
) -> None:
    open_player = (
        "item => emit('dashcam:player', {item, box: document.getElementById('player-extra')})"
    )
    item, track = server[1]["with"]
    page.evaluate(open_player, item)
    page.wait_for_selector("#player-extra .track polyline.route", state="attached")
    points = page.evaluate(
        "document.querySelector('#player-extra polyline.route').getAttribute('points')"
    )
    assert len(points.split()) == len(track["points"])
    speeds = page.evaluate(
        "document.querySelector('#player-extra polyline.speed').getAttribute('points')"
    )
    assert len(speeds.split()) == sum(p["speed_mps"] is not None for p in track["points"])
    hrefs = page.eval_on_selector_all(
        "#player-extra .track-links a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert hrefs == [track["gpx_url"], track["srt_url"]]
    # Another clip, recorded after the drive ended: no track, nothing drawn.
    other, _ = server[1]["without"]
    url = f"/api/items/{other['id']}/track"
    with page.expect_response(lambda r: r.url.endswith(url)) as answer:
        page.evaluate(open_player, other)
    assert answer.value.status == 404
    page.wait_for_function("!document.querySelector('#player-extra .track')")
