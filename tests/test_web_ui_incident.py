"""Incidents in the Gallery, in a real browser (Debian's Chromium) against a real
``dashcam run --sim`` child with 2 s clips, at 390x844 and 844x390: one tile per incident
(kind, time, total duration, clips), Export to one MP4 whose frames are the sum of its
clips', Download and Share. The player's one time line across the clips is
tests/test_web_ui_timeline.py's.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import av
import pytest

from tests.browser_fixtures import (
    LANDSCAPE,
    PHONE,
    chromium,
    get_json,
    phone_page,
    post,
    sim_server,
)
from tests.harness import wait_until
from tests.test_web_browser import shot
from tests.test_web_ui_gallery import VIEWPORTS, m_ss

#: Installed before the page's scripts: the player's source changes, its ends, and the items
#: the player was opened on (dashcam:player), in order, in ``window.played``.
PLAYED = """
window.played = { sources: [], ended: 0, opened: [], busy: [] };
document.addEventListener("DOMContentLoaded", () => {
  const v = document.getElementById("video");
  v.addEventListener("loadstart", () => played.sources.push(v.getAttribute("src")));
  v.addEventListener("ended", () => { played.ended++; });
  new MutationObserver(() => played.busy.push(document.getElementById("export")
    .getAttribute("aria-busy"))).observe(document.getElementById("export"),
    { attributes: true, attributeFilter: ["aria-busy"] });
});
document.addEventListener("dashcam:player", (e) => played.opened.push(e.detail.item.id));
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sim_server(tmp_path_factory.mktemp("ui-incident")) as base:
        yield base


@pytest.fixture(scope="module")
def incident(server) -> dict:
    """A complete manual incident of three 2 s clips (before, during, after)."""
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 2, 20)
    before = {i["id"] for i in get_json(server, "/api/incidents")}
    post(server, "/api/incidents")

    def complete():
        new = [i for i in get_json(server, "/api/incidents") if i["id"] not in before]
        return new[0] if new and new[0]["complete"] else None

    assert wait_until(complete, 20)
    inc = complete()
    assert len(inc["clips"]) == 3, inc
    return get_json(server, f"/api/incidents/{inc['id']}")


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def open_incident(page, incident: dict) -> None:
    page.click("a[data-tab='gallery']")
    page.click("#views .chip[data-kind='events']")
    tile = f"#gallery .tile[data-incident='{incident['incident']['id']}']"
    page.wait_for_selector(tile)
    page.click(tile)
    page.wait_for_selector("#player", state="visible")


def frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@VIEWPORTS
def test_an_incident_is_one_tile_with_its_kind_time_duration_and_clips(
    browser, server, incident, viewport
):
    with phone_page(browser, server, viewport) as page:
        page.click("a[data-tab='gallery']")
        page.click("#views .chip[data-kind='events']")
        inc = incident["incident"]
        tile = f"#gallery .tile[data-incident='{inc['id']}']"
        page.wait_for_selector(tile)
        # Only incidents in this view, each once; none of its clips as a tile of its own.
        kinds = page.eval_on_selector_all("#gallery .tile", "ts => ts.map(t => t.dataset.kind)")
        assert set(kinds) == {"incident"}
        ids = page.eval_on_selector_all("#gallery .tile", "ts => ts.map(t => t.dataset.incident)")
        assert sorted(ids) == sorted(str(i["id"]) for i in get_json(server, "/api/incidents"))
        badges = page.eval_on_selector_all(f"{tile} .badge", "bs => bs.map(b => b.textContent)")
        time_text = page.evaluate(f"timeText({inc['wall_s']} * 1000)")
        assert badges == ["By you", "3 clips", time_text, m_ss(incident["duration_s"])]
        assert page.text_content("#count-events") == str(len(ids))
        assert page.text_content("#count-manual") == str(len(ids))
        assert page.text_content("#count-impact") == "0"
        shot(page, f"gallery-events-{viewport['width']}")
        page.click("#event-kinds .chip[data-ikind='impact']")
        page.wait_for_function("!document.querySelector('#gallery .tile[data-incident]')")
        assert page.text_content("#more") == "Nothing here yet."
        page.click("#event-kinds .chip[data-ikind='manual']")
        page.wait_for_selector(tile)


@VIEWPORTS
def test_export_gives_one_file_whose_frames_are_the_sum_of_its_clips(
    browser, server, incident, viewport, tmp_path
):
    parts = []
    for n, item in enumerate(incident["items"]):
        path = tmp_path / f"part{n}.mp4"
        with urllib.request.urlopen(server + item["download_url"], timeout=10) as resp:
            path.write_bytes(resp.read())
        parts.append(frames(path))
    with phone_page(browser, server, viewport) as page:
        page.add_init_script(PLAYED)
        page.add_init_script("navigator.canShare = () => false;")
        page.reload()
        page.wait_for_selector("#link[data-live='true']")
        open_incident(page, incident)
        assert page.is_hidden("#export-download")
        page.click("#export")
        page.wait_for_selector("#export-download", state="visible", timeout=30_000)
        assert page.evaluate("played.busy") == ["true", None]  # the spinner while it ran
        assert page.is_hidden("#export-share")  # this phone cannot share files
        with page.expect_download(timeout=20_000) as info:
            page.click("#export-download")
        path = tmp_path / "export.mp4"
        info.value.save_as(path)
        assert info.value.suggested_filename.endswith(".mp4")
    assert frames(path) == sum(parts), parts
    assert len(parts) == 3 and all(parts)


SHARE = """
navigator.canShare = (data) => !!data.files && data.files.every((f) => f.type === "video/mp4");
navigator.share = async (data) => {
  const f = data.files[0];
  window.shared = { name: f.name, size: f.size, head: [...new Uint8Array(await f.slice(4, 8)
    .arrayBuffer())].map((c) => String.fromCharCode(c)).join("") };
};
"""


def test_share_hands_the_exported_file_to_the_phone(browser, server, incident):
    with phone_page(browser, server, PHONE) as page:
        page.add_init_script(SHARE)
        page.reload()
        page.wait_for_selector("#link[data-live='true']")
        open_incident(page, incident)
        page.click("#export")
        page.wait_for_selector("#export-share", state="visible", timeout=30_000)
        href = page.get_attribute("#export-download", "href")
        page.click("#export-share")
        page.wait_for_function("window.shared !== undefined", timeout=20_000)
        shared = page.evaluate("window.shared")
        with urllib.request.urlopen(server + href, timeout=10) as resp:
            data = resp.read()
        assert shared == {
            "name": page.get_attribute("#export-download", "download"),
            "size": len(data),
            "head": "ftyp",
        }
        assert page.text_content("#export-msg") == f"Shared {shared['name']}"


def test_in_landscape_the_player_uses_the_full_height(browser, server, incident):
    with phone_page(browser, server, LANDSCAPE) as page:
        open_incident(page, incident)
        page.wait_for_function("document.getElementById('video').readyState >= 1")
        box = page.eval_on_selector(
            "#video", "v => { const r = v.getBoundingClientRect(); return [r.top, r.height]; }"
        )
        assert box[1] >= LANDSCAPE["height"] - 16, box
        side = page.eval_on_selector("#player .side", "s => s.getBoundingClientRect().toJSON()")
        assert side["left"] >= page.eval_on_selector(
            "#video", "v => v.getBoundingClientRect().right"
        )
        assert side["bottom"] <= LANDSCAPE["height"]


def test_an_impact_shows_its_peak_and_has_its_own_filter(browser, server, incident):
    """The simulated G-sensor's bump (the panel's BUMP): an impact incident (run last: it
    adds an incident to the module's card)."""
    before = {i["id"] for i in get_json(server, "/api/incidents")}
    post(server, "/api/panel/bump")

    def impact():
        new = [i for i in get_json(server, "/api/incidents") if i["id"] not in before]
        return new[0] if new else None

    assert wait_until(impact, 20)
    inc = impact()
    assert inc["kind"] == "impact" and inc["peak_g"] > 0, inc
    with phone_page(browser, server, PHONE) as page:
        page.click("a[data-tab='gallery']")
        page.click("#views .chip[data-kind='events']")
        page.click("#event-kinds .chip[data-ikind='impact']")
        tile = f"#gallery .tile[data-incident='{inc['id']}']"
        page.wait_for_selector(tile)
        # The Events list (manual and impact) stays until the filtered one replaces it.
        page.wait_for_function("document.querySelectorAll('#gallery .tile').length === 1")
        first = page.eval_on_selector(f"{tile} .badge", "b => b.textContent")
        assert first == f"Impact {inc['peak_g']:.1f} g"
        assert page.text_content("#count-impact") == "1"
        page.click(tile)
        page.wait_for_selector("#player", state="visible")
        assert page.text_content("#player-title").startswith(f"Impact {inc['peak_g']:.1f} g · ")
