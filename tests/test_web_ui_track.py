"""GPS on the dashboard (web/static/track.js) in a real browser (Debian's Chromium driven by
Playwright) against a real ``dashcam run --sim`` child reading a real gpsd (gpsfake)."""

from __future__ import annotations

import urllib.error

import pytest

from tests.browser_fixtures import chromium, get_json, phone_page, sim_server
from tests.harness import wait_until
from tests.test_gps import START, _gpsfake


def track_of(base: str, item) -> dict | None:
    try:
        return get_json(base, f"/api/items/{item['id']}/track")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ``dashcam run --sim`` child with gps = "gpsd" fed by gpsfake, and a clip recorded
    with a track and one after the drive ended, without."""
    tmp = tmp_path_factory.mktemp("track-ui")
    feeder = _gpsfake(tmp, START)
    gps_port = next(feeder)
    found: dict = {}
    try:
        with sim_server(tmp, f'gps = "gpsd"\ngps_port = {gps_port}\n') as base:

            def clips_with_and_without_track() -> bool:
                # oldest first, the newest left out: its track may not be written yet
                for item in get_json(base, "/api/items?limit=50")["items"][:0:-1]:
                    if item["video"] and item["seq"] not in found.get("seen", ()):
                        found.setdefault("seen", set()).add(item["seq"])
                        track = track_of(base, item)
                        if track is not None:
                            found.setdefault("with", (item, track))
                        elif "with" in found:  # recorded after the drive ended
                            found.setdefault("without", (item, None))
                return "with" in found and "without" in found

            assert wait_until(clips_with_and_without_track, 60, 0.5)
            yield base, found
    finally:
        feeder.close()


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    with phone_page(browser, server[0]) as page:
        yield page


def test_live_shows_the_fix_and_the_speed(page) -> None:
    page.wait_for_function(
        "/^GPS: position found · \\d+ km\\/h$/.test(document.querySelector('#live-extra #gps-line')"
        "?.textContent || '')",
        timeout=10_000,
    )
    assert page.get_attribute("#gps-line", "data-fix") == "true"
    assert page.is_visible("#gps-line")
    # The receiver loses its fix, then GPS is off: snapshots as the server would send them,
    # each read back in the same task (a live snapshot cannot come in between).
    shown = "gps => { emit('dashcam:status', {...status, gps}); const el = $('gps-line');"
    shown += " return [el.textContent, el.dataset.fix, el.hidden]; }"
    no_fix = {"fix": False, "mode": 1, "speed_mps": None, "speed_text": ""}
    assert page.evaluate(shown, {**no_fix, "lat": None, "lon": None}) == [
        "GPS: looking for satellites (no position yet)",
        "false",
        False,
    ]
    assert page.evaluate(shown, None)[2] is True  # hidden


def open_clip(page, item) -> str:
    """Taps the clip's tile in the Gallery (older pages load as the list scrolls down to it)
    and waits for the player; returns the tile's selector."""
    page.click("a[data-tab='gallery']")
    tile = f"#gallery .tile[data-id='{item['id']}']"
    page.wait_for_function(
        """tile => {
          if (document.querySelector(tile)) return true;
          document.getElementById('more').scrollIntoView();  // the next page, as a thumb would
          return false;
        }""",
        arg=tile,
        polling=100,
        timeout=10_000,
    )
    page.click(tile)
    page.wait_for_selector("#player[open]")
    assert page.get_attribute("#video", "src") == f"/api/items/{item['id']}/video.mp4"
    return tile


def test_the_player_draws_the_clips_route_and_speed_and_nothing_without_a_track(
    page, server
) -> None:
    item, track = server[1]["with"]
    tile = open_clip(page, item)
    assert page.is_visible(f"{tile} .badge.gps")  # the tile says the clip has a track
    # An east-west drive: the route is a flat line (no height, so attached, not "visible").
    page.wait_for_selector("#player-extra .track svg.track-route polyline.route", state="attached")
    assert page.is_visible("#player-extra svg.track-route")
    # Kept in proportion, the route is centred in its drawing (not along an edge).
    box = page.evaluate(
        """() => { const svg = document.querySelector('#player-extra svg.track-route');
          const b = svg.querySelector('polyline.route').getBBox(), v = svg.viewBox.baseVal;
          return [b.x + b.width / 2, b.y + b.height / 2, v.width / 2, v.height / 2]; }"""
    )
    assert box[0] == pytest.approx(box[2], abs=0.2)
    assert box[1] == pytest.approx(box[3], abs=0.2)
    assert page.is_visible("#player-extra svg.track-speed")
    points = page.get_attribute("#player-extra polyline.route", "points")
    assert len(points.split()) == len(track["points"])
    speeds = page.get_attribute("#player-extra svg.track-speed polyline.speed", "points")
    assert len(speeds.split()) == sum(p["speed_mps"] is not None for p in track["points"])
    hrefs = page.eval_on_selector_all(
        "#player-extra .track-links a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert hrefs == [track["gpx_url"], track["srt_url"]]
    page.click("#player-close")
    page.wait_for_selector("#player:not([open])", state="attached")
    # Another clip, recorded after the drive ended: no track, nothing drawn.
    other, _ = server[1]["without"]
    url = f"/api/items/{other['id']}/track"
    with page.expect_response(lambda r: r.url.endswith(url)) as answer:
        tile = open_clip(page, other)
    assert answer.value.status == 404
    assert page.query_selector(f"{tile} .badge.gps") is None
    page.wait_for_function("!document.querySelector('#player-extra .track')")
    assert page.inner_html("#player-extra") == ""


def test_the_position_and_the_speed_cursor_follow_the_video_and_labels_stay_clear(
    browser, server
) -> None:
    """Sunlight (the largest borders and type): the clip's actions stay above its track."""
    item, track = server[1]["with"]
    points = track["points"]
    with phone_page(browser, server[0], theme="sunlight") as page:
        open_clip(page, item)
        page.wait_for_selector("#player-extra .track svg.track-speed", state="attached")
        page.wait_for_function("document.getElementById('video').readyState >= 1")
        seen = """() => {
          const here = document.querySelector('#player-extra .here');
          const cursor = document.querySelector('#player-extra .cursor');
          const route = document.querySelector('#player-extra polyline.route').points;
          return { here: [+here.getAttribute('cx'), +here.getAttribute('cy')],
            cursor: +cursor.getAttribute('x1'),
            now: document.querySelector('#player-extra .label.now').textContent,
            route: Array.from(route, (p) => [p.x, p.y]) }; }"""
        xs = []
        for n in (len(points) // 3, 2 * len(points) // 3):
            t = points[n]["t_s"] + 0.05
            page.evaluate(f"document.getElementById('video').currentTime = {t}")
            page.wait_for_function(
                f"!document.getElementById('video').seeking && Math.abs("
                f"document.getElementById('video').currentTime - {t}) < 0.1"
            )
            page.wait_for_function(
                f"(() => {{ const c = document.querySelector('#player-extra .here');"
                f" const r = document.querySelector('#player-extra polyline.route').points;"
                f" return Math.abs(+c.getAttribute('cx') - r[{n}].x) < 0.2; }})()",
                timeout=5_000,
            )
            state = page.evaluate(seen)
            assert state["here"] == pytest.approx(state["route"][n], abs=0.2)
            if points[n]["speed_mps"] is not None:
                assert state["now"] == f"{round(points[n]['speed_mps'] * 3.6)} km/h"
            xs.append(state["cursor"])
        assert xs[1] > xs[0]  # the cursor moved right with the video
        # The "max" label stands above the speed line, never on it.
        label, line = page.evaluate(
            """() => { const svg = document.querySelector('#player-extra svg.track-speed');
              const l = svg.querySelector('.label').getBBox();
              const p = svg.querySelector('polyline.speed').getBBox();
              return [l.y + l.height, p.y]; }"""
        )
        assert label <= line, (label, line)
        # The actions come before the track: on screen with the picture.
        download = page.eval_on_selector("#download", "e => e.getBoundingClientRect().toJSON()")
        extra = page.eval_on_selector("#player-extra", "e => e.getBoundingClientRect().toJSON()")
        assert download["bottom"] <= extra["top"] and download["bottom"] <= 844, download


def test_an_incident_s_track_runs_across_its_clips_on_its_time_line(page, server) -> None:
    """The player's event as gallery.js sends it for an incident (its clips and time line):
    the clips' tracks one after the other, the second moved by where its clip starts."""
    item, track = server[1]["with"]
    n = len(track["points"])
    page.evaluate(
        """([item]) => { $("player").showModal();
          emit("dashcam:player", { item, box: $("player-extra"), items: [item, {...item, seq: -1}],
            timeline: { duration_s: 120, clips: [{ seq: item.seq, start_s: 0, duration_s: 60 },
              { seq: -1, start_s: 60, duration_s: 60 }] } }); }""",
        [item],
    )
    page.wait_for_selector("#player-extra .track svg.track-route", state="attached")
    route = page.get_attribute("#player-extra polyline.route", "points")
    assert len(route.split()) == 2 * n  # the same clip's track twice, 60 s apart
    assert page.query_selector("#player-extra .track-links") is None  # the export has it
