"""The Gallery loads page after page as the list is scrolled (web/static/gallery.js), in a real
browser (Debian's Chromium driven by Playwright) against a real ``dashcam run --sim`` child."""

from __future__ import annotations

from tests.browser_fixtures import VIEWPORTS, get_json, module_fixtures, phone_page, post
from tests.harness import wait_until

PAGE = 30  # the gallery's page (gallery.js: moreItems)
PHOTOS = PAGE + 3

server, browser = module_fixtures(folder="gallery-pages")


@VIEWPORTS
def test_scrolled_to_its_end_the_gallery_shows_every_item(browser, server, viewport) -> None:
    """A first page that does not fill the screen (landscape: seven tiles a row) must not
    stop the list: the next page loads although the end of the list never left the view."""
    for _ in range(PHOTOS - get_json(server, "/api/status")["counts"]["photo"]):
        post(server, "/api/photos")
    assert wait_until(lambda: get_json(server, "/api/status")["counts"]["photo"] >= PHOTOS, 60)
    with phone_page(browser, server, viewport) as page:
        page.click("a[data-tab='gallery']")
        page.click("#views .chip[data-kind='photo']")
        page.wait_for_selector("#gallery .tile[data-kind='photo']")
        # The ids read in the same task as the test (a new clip reloads the gallery meanwhile).
        ids = page.wait_for_function(
            """n => {
              document.getElementById('more').scrollIntoView();  // as a thumb scrolls down
              const tiles = document.querySelectorAll('#gallery .tile[data-kind="photo"]');
              return tiles.length === n
                && document.getElementById('more').textContent === 'That is all.'
                && [...tiles].map(t => t.dataset.id);
            }""",
            arg=PHOTOS,
            polling=100,
            timeout=10_000,
        ).json_value()
        listed = get_json(server, f"/api/items?kind=photo&limit={PHOTOS + 10}")["items"]
        assert ids == [item["id"] for item in listed]
