"""The gallery fits a phone, in a real browser (Debian's Chromium) against a real
``dashcam run --sim`` child: at 390 px the view chips stand on one row and no badge is cut
(an impact's peak, the clip count); in landscape a clip is above the fold; a zip download
says what it is doing.
"""

from __future__ import annotations

import pytest

from tests.browser_fixtures import (
    LANDSCAPE,
    PHONE,
    VIEWPORTS,
    get_json,
    module_fixtures,
    phone_page,
    post,
)
from tests.harness import wait_until

server, browser = module_fixtures("", "gallery-fit")


@pytest.fixture(scope="module")
def incidents(server):
    """A manual incident and an impact (its peak shown on the tile), both complete."""
    post(server, "/api/incidents")
    post(server, "/api/panel/bump")
    done = lambda: [i for i in get_json(server, "/api/incidents") if i["complete"]]  # noqa: E731
    assert wait_until(lambda: {i["kind"] for i in done()} == {"manual", "impact"}, 60)
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["loop"] >= 4, 30)
    return server


TILE = {"loop": "loop", "events": "incident", "protected": "protected"}


def open_view(page, view: str) -> None:
    page.click("a[data-tab='gallery']")
    page.click(f"#views .chip[data-kind='{view}']")
    page.wait_for_selector(f"#gallery .tile[data-kind='{TILE[view]}']")


CHIPS = """() => [...document.querySelectorAll("#views .chip")].map((c) => {
  const r = c.getBoundingClientRect();
  return { text: c.textContent.trim(), top: Math.round(r.top), left: r.left, right: r.right };
})"""

#: Every badge of every tile: cut if its text is wider than the badge or the badge sticks
#: out of its tile.
CUT = """() => [...document.querySelectorAll("#gallery .tile .badge")]
  .filter((b) => b.getClientRects().length)
  .map((b) => { const t = b.closest(".tile").getBoundingClientRect(),
    r = b.getBoundingClientRect();
    return { text: b.textContent, cut: b.scrollWidth > b.clientWidth + 0.5
      || r.right > t.right + 0.5 || r.left < t.left - 0.5 }; })"""


@VIEWPORTS
def test_the_view_chips_stand_on_one_row_within_the_screen(browser, incidents, viewport):
    with phone_page(browser, incidents, viewport) as page:
        open_view(page, "loop")
        page.wait_for_function("document.getElementById('count-events').textContent !== ''")
        chips = page.evaluate(CHIPS)
        assert len({c["top"] for c in chips}) == 1, chips  # one row
        assert all(c["left"] >= 0 and c["right"] <= viewport["width"] for c in chips), chips
        # Nothing hidden past the row's edge either (it would scroll).
        row = page.evaluate(
            "(() => { const v = document.getElementById('views');"
            " return [v.scrollWidth, v.clientWidth]; })()"
        )
        assert row[0] <= row[1], row


@pytest.mark.parametrize("theme", ["dark", "sunlight"])
def test_no_badge_is_cut_at_390_px(browser, incidents, theme):
    with phone_page(browser, incidents, PHONE, theme=theme) as page:
        for view in ("events", "loop", "protected"):
            open_view(page, view)
            page.wait_for_function("document.querySelectorAll('#gallery .tile .badge').length")
            badges = page.evaluate(CUT)
            assert badges and not [b for b in badges if b["cut"]], (view, badges)
            if view == "events":
                texts = [b["text"] for b in badges]
                assert any(t.startswith("Impact ") and t.endswith(" g") for t in texts), texts


def test_in_landscape_a_clip_is_above_the_fold(browser, incidents):
    with phone_page(browser, incidents, LANDSCAPE) as page:
        for view in ("loop", "events"):
            open_view(page, view)
            box = page.evaluate(
                "(() => { const t = document.querySelector('#gallery .tile:not(.rec)')"
                ".getBoundingClientRect(); return { top: t.top, bottom: t.bottom,"
                " fold: document.querySelector('.tabs').getBoundingClientRect().top }; })()"
            )
            assert box["bottom"] <= box["fold"], (view, box)


def test_a_zip_download_says_what_it_is_doing(browser, incidents):
    with phone_page(browser, incidents, PHONE) as page:
        open_view(page, "loop")
        page.click("#select-mode")
        for tile in page.query_selector_all("#gallery .tile[data-kind='loop']")[:2]:
            tile.click()
        assert page.text_content("#sel-count") == "2 selected"
        with page.expect_download() as download:
            page.click("#sel-zip")
        page.wait_for_function("document.getElementById('sel-msg').textContent !== ''")
        text = page.text_content("#sel-msg")
        # What it is (how many files, how big: the ZIP's exact length) and where to follow it.
        assert text.startswith("Downloading a zip of 2 clips"), text
        size = int(download.value.path().stat().st_size)
        shown = page.evaluate(f"bytes({size})")
        assert shown in text, (text, shown)
