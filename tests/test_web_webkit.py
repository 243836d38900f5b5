"""The dashboard in a real WebKit engine (WebKitGTK, :mod:`tests.webkit_fixtures`).

The Chromium tests cover the page in depth; these check that WebKit (Safari's engine,
every iPhone browser's) runs it too: the live state arrives and the engine can decode
the camera's H.264; an incident (6 s clips) opens at its moment as one video of its whole
length, seeks into its last clip and plays across a clip change; a closed clip knows its
length and seeks (a bare fragmented MP4 said 1 s here, and its seeks landed short or never).
"""

from __future__ import annotations

import pytest

from tests.browser_fixtures import get_json, sim_server
from tests.harness import wait_until
from tests.test_web_ui_timeline import LEAD_S, SEGMENT_S, complete_incident, versioned
from tests.webkit_fixtures import video_state, wait_js, webkit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sim_server(tmp_path_factory.mktemp("webkit"), f"segment_seconds = {SEGMENT_S}") as base:
        yield base


@pytest.fixture(scope="module")
def driver():
    with webkit() as d:
        yield d


def test_the_live_state_arrives_in_webkit_and_h264_can_play(driver, server):
    driver.get(server + "/")
    state = lambda: driver.execute_script(  # noqa: E731
        "return document.getElementById('state').dataset.state"
    )
    assert wait_until(lambda: state() == "recording", 15), state()
    assert "AppleWebKit" in driver.execute_script("return navigator.userAgent")
    can = driver.execute_script(
        "return document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.42E01E\"')"
    )
    assert can == "probably", "WebKit cannot decode H.264 here: install gstreamer1.0-libav"


@pytest.fixture(scope="module")
def incident(server) -> dict:
    """A complete manual incident of three 6 s clips, its moment in the second."""
    d = complete_incident(server)
    assert len(d["items"]) == 3 and d["timeline"]["moment_s"] > LEAD_S + 1, d
    return d


def click(driver, selector: str) -> None:
    assert wait_js(driver, f"document.querySelector({selector!r})"), selector
    driver.execute_script(f"document.querySelector({selector!r}).click()")


def open_gallery(driver, server, view: str) -> None:
    driver.get(server + "/")
    assert wait_js(driver, "document.getElementById('link').dataset.live === 'true'", 15)
    click(driver, "a[data-tab='gallery']")
    click(driver, f"#views .chip[data-kind='{view}']")


def test_an_incident_opens_at_its_moment_as_one_video_and_plays_across_clips_in_webkit(
    driver, server, incident
):
    tl = incident["timeline"]
    open_gallery(driver, server, "events")
    click(driver, f"#gallery .tile[data-incident='{incident['incident']['id']}']")
    start = tl["moment_s"] - LEAD_S
    v = "document.getElementById('video')"
    at_moment = f"{v}.readyState >= 2 && Math.abs({v}.currentTime - {start}) < 0.2"
    assert wait_js(driver, at_moment, 15), video_state(driver, "#video")
    state = video_state(driver, "#video")
    assert state["src"].endswith(versioned(incident)), state
    # Its whole length from the first bytes (fragments: 1 s that grew as it played).
    assert state["duration"] == pytest.approx(tl["duration_s"], abs=0.05), state
    # Into the last clip (a seek into a fragmented file landed short or never completed).
    target = tl["clips"][2]["start_s"] + 2.5
    driver.execute_script(f"{v}.currentTime = {target}")
    assert wait_js(
        driver, f"!{v}.seeking && {v}.readyState >= 2 && Math.abs({v}.currentTime - {target}) < 0.3"
    ), video_state(driver, "#video")
    shown = "document.getElementById('player-part').textContent"
    assert wait_js(driver, f"{shown} === 'Clip 3 of 3 · after the moment'"), driver.execute_script(
        f"return {shown}"
    )
    # Across the change from the second clip to the last, playing.
    border = tl["clips"][2]["start_s"]
    driver.execute_script(f"{v}.currentTime = {border - 1.5}")
    ready = f"!{v}.seeking && {v}.readyState >= 3"
    assert wait_js(driver, ready, 15), video_state(driver, "#video")
    driver.execute_script(
        f"window.updates = []; {v}.addEventListener('timeupdate', () => "
        f"updates.push([performance.now(), {v}.currentTime])); {v}.muted = true; {v}.play();"
    )
    assert wait_js(driver, f"{v}.currentTime > {border + 1.0}", 15), video_state(driver, "#video")
    updates = driver.execute_script("return updates")
    # The second around the change plays in about a second of the clock (2 s allowed: the
    # machine may be busy), the playhead never going back.
    before = next(w for w, t in updates if t >= border - 0.5)
    after = next(w for w, t in updates if t >= border + 0.5)
    assert (after - before) / 1000 < 2.0, (border, updates)
    assert all(b[1] >= a[1] for a, b in zip(updates, updates[1:], strict=False)), updates
    state = video_state(driver, "#video")
    assert state["error"] is None and state["src"].endswith(versioned(incident)), state


def test_a_closed_clip_reports_its_real_duration_and_seeks_in_webkit(driver, server, incident):
    item = incident["items"][1]
    open_gallery(driver, server, "protected")
    click(driver, f"#gallery .tile[data-id='{item['id']}']")
    v = "document.getElementById('video')"
    assert wait_js(driver, f"{v}.readyState >= 1", 15), video_state(driver, "#video")
    state = video_state(driver, "#video")
    assert state["duration"] == pytest.approx(item["duration_s"], abs=0.05), state
    target = item["duration_s"] - 1.0
    driver.execute_script(f"{v}.currentTime = {target}")
    assert wait_js(
        driver, f"!{v}.seeking && {v}.readyState >= 2 && Math.abs({v}.currentTime - {target}) < 0.1"
    ), video_state(driver, "#video")
    assert state["src"].endswith(f"/api/items/{item['id']}/video.mp4"), state
    assert get_json(server, f"/api/items/{item['id']}")["duration_s"] == item["duration_s"]
