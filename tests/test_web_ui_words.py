"""Plain words, in a real browser (Debian's Chromium) against a real ``dashcam run --sim``
child: no config key and no jargon on any tab, and every control that is off says why.
"""

from __future__ import annotations

import re

from tests.browser_fixtures import get_json, module_fixtures, phone_page, post
from tests.harness import wait_until

server, browser = module_fixtures("", "words")

#: A config key (snake_case) or a word a driver would not use.
JARGON = re.compile(r"\b[a-z]+_[a-z_]+\b|\bIDLE\b|\b[23]D fix\b|\bManual\b|\bEvents\b")

VISIBLE_TEXT = "document.body.innerText"

#: Every visible control that is off, and the reason it gives (title) and shows (a note).
DISABLED = """() => [...document.querySelectorAll("button, a.btn, input, select")]
  .filter((el) => (el.disabled || el.getAttribute("aria-disabled") === "true")
    && el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map((el) => {
    const note = el.getAttribute("aria-describedby");
    return { id: el.id || el.textContent.trim(), title: el.title || "",
      shown: note ? document.getElementById(note).innerText : null };
  })"""


def tab(page, name: str) -> None:
    page.click(f"a[data-tab='{name}']")
    page.wait_for_function(f"!document.getElementById('tab-{name}').hidden")


def test_no_tab_shows_a_config_key_or_jargon(browser, server):
    post(server, "/api/incidents")  # an incident, so the Events view has a tile
    assert wait_until(lambda: get_json(server, "/api/incidents"), 10)
    post(server, "/api/recording/stop")
    assert wait_until(lambda: get_json(server, "/api/status")["state"] == "idle", 10)
    try:
        with phone_page(browser, server) as page:
            page.wait_for_function("document.getElementById('state').dataset.state === 'idle'")
            seen = {"live": page.evaluate(VISIBLE_TEXT)}
            tab(page, "gallery")
            for view in ("loop", "events", "protected", "photo"):
                page.click(f"#views .chip[data-kind='{view}']")
                page.wait_for_function("document.getElementById('more').textContent !== '—'")
                seen[view] = page.evaluate(VISIBLE_TEXT)
            tab(page, "settings")
            page.wait_for_function(
                "document.getElementById('upload-state')?.textContent.length > 1"
            )
            seen["settings"] = page.evaluate(VISIBLE_TEXT)
            for where, text in seen.items():
                assert not JARGON.findall(text), (where, JARGON.findall(text))
            assert page.text_content("#state") == "Not recording"
            assert "By you" in seen["events"]
    finally:
        post(server, "/api/recording/start")


def test_every_control_that_is_off_says_why(browser, server):
    with phone_page(browser, server) as page:
        tab(page, "settings")
        # The appliance's clock is this machine's: right, so there is nothing to set.
        page.wait_for_function("document.getElementById('clock-sync').disabled")
        page.wait_for_selector("#clock-why", state="visible")
        off = page.evaluate(DISABLED)
        assert off, "nothing is off: the test would prove nothing"
        for control in off:
            assert control["title"], control
            assert control["shown"] is None or control["shown"] == control["title"], control
        assert "already agrees" in page.text_content("#clock-why")

        tab(page, "gallery")
        page.click("#select-mode")
        page.wait_for_selector("#selbar", state="visible")
        off = page.evaluate(DISABLED)
        assert {c["id"] for c in off} >= {"sel-zip", "sel-protect", "sel-delete"}, off
        for control in off:
            assert control["title"], control
        assert page.text_content("#sel-why") == "Tap clips or photos to select them first."
