"""The Live tab's parking card in a real browser (Debian's Chromium) against a real
``dashcam run --sim`` child with ``parking = true``: "Parked: watching" with the events so
far, "3 events while parked" on return with a button per event that opens it in the player,
dismissed for good on this phone, the battery's voltage (the simulated INA219), and "Park
now" / "Leave parking" reaching the appliance.

The snapshot's ``parking`` member is filled by the parking core; until it lands (and to
show states the child does not reach by itself) the test stops the page's live stream and
hands the page's own ``showStatus`` snapshots made here from the child's real one, with
real incident ids.
"""

from __future__ import annotations

import pytest

from tests.browser_fixtures import get_json, module_fixtures, phone_page, post
from tests.harness import wait_until
from tests.test_web_browser import shot
from tests.test_web_ui_words import JARGON

# No motion watch: the simulated picture moves, and the state must stay "parked" here.
CONFIG = 'parking = true\nparking_motion = false\nbattery_monitor = "ina219"\n'
server, browser = module_fixtures(CONFIG, "parking")

#: Stop the live stream: from here on the page shows only what the test hands it.
QUIET = "source.close(); source = null;"


@pytest.fixture(scope="module")
def three_incidents(server) -> list[int]:
    """Three incidents on the card (the parking clips' stand-ins), recording stopped after."""
    for n in range(1, 4):
        post(server, "/api/incidents")
        assert wait_until(lambda n=n: len(get_json(server, "/api/incidents")) >= n, 15)
    ids = sorted(i["id"] for i in get_json(server, "/api/incidents"))
    assert len(ids) == 3
    post(server, "/api/recording/stop")
    assert wait_until(lambda: get_json(server, "/api/status")["state"] == "idle", 10)
    return ids


#: The top bar's line (its box shadow) and the theme's accent and warning colours, computed.
TOP_LINE = """() => {
  const probe = (name) => {
    const el = document.createElement("i");
    el.style.color = `var(${name})`;
    document.body.append(el);
    const color = getComputedStyle(el).color;
    el.remove();
    return color;
  };
  return { shadow: getComputedStyle(document.querySelector(".top")).boxShadow,
    accent: probe("--accent"), warn: probe("--warn") };
}"""


def snapshot(server, n: int, **changes) -> dict:
    """The child's status snapshot with ``changes``, newer than anything it has sent."""
    real = get_json(server, "/api/status")
    return {**real, **changes, "version": real["version"] + 1000 * n}


def show(page, status: dict) -> None:
    page.evaluate("s => showStatus(s)", status)


def test_parked_then_back_shows_the_events_with_their_clips(browser, server, three_incidents):
    ids = three_incidents
    now_s = get_json(server, "/api/status")["clock_ms"] / 1000
    with phone_page(browser, server) as page:
        page.evaluate(QUIET)
        parking = {"parked": True, "events": 2, "incidents": ids[:2], "since_wall": now_s - 600}
        show(page, snapshot(server, 1, state="parked", recording=False, segment=None,
                            parking={**parking, "last_session": None}))  # fmt: skip
        page.wait_for_selector("#parking", state="visible")
        assert page.text_content("#state") == "Parked · watching"
        # The top bar's line is the parking colour, not the not-recording warning's.
        line = page.evaluate(TOP_LINE)
        assert line["accent"] in line["shadow"] and line["warn"] not in line["shadow"], line
        watch = page.text_content("#parking-watch")
        assert watch.startswith("Parked: watching · 2 events since "), watch
        assert page.text_content("#park-toggle") == "Leave parking"
        assert page.is_hidden("#parking-return")
        # the simulated INA219, read by the real driver in the child
        page.wait_for_function("document.getElementById('parking-battery').innerText.length")
        battery = page.text_content("#parking-battery")
        assert battery == "Battery 12.6 V · parking ends below 11.8 V", battery
        shot(page, "parking-watching")
        show(page, snapshot(server, 2, state="parked_event", recording=False, segment=None,
                            parking={**parking, "last_session": None}))  # fmt: skip
        assert page.text_content("#state") == "Parked · recording an event"
        assert page.text_content("#parking-watch").startswith("Parked: recording an event · ")

        session = {"started_wall": now_s - 600, "ended_wall": now_s, "events": 3, "incidents": ids}
        back = {"parked": False, "events": 3, "incidents": ids, "since_wall": None}
        show(page, snapshot(server, 3, state="recording", recording=True,
                            parking={**back, "last_session": session}))  # fmt: skip
        page.wait_for_selector("#parking-return", state="visible")
        summary = page.text_content("#parking-summary")
        assert summary.startswith("3 events while parked ("), summary
        page.wait_for_function("document.querySelectorAll('#parking-events button').length === 3")
        labels = page.eval_on_selector_all(
            "#parking-events button", "bs => bs.map(b => b.innerText)"
        )
        assert [label.split(" · ")[0] for label in labels] == ["Event 1", "Event 2", "Event 3"]
        assert page.is_hidden("#parking-watch")
        assert page.text_content("#park-toggle") == "Park now"
        text = page.inner_text("#parking")
        assert not JARGON.findall(text), JARGON.findall(text)
        shot(page, "parking-back")

        page.click(f"#parking-events button[data-incident='{ids[1]}']")
        page.wait_for_selector("#player[open]")
        assert page.text_content("#player-title")
        page.click("#player-close")
        page.wait_for_selector("#player:not([open])", state="attached")

        page.click("#parking-dismiss")
        assert page.is_hidden("#parking-return")
        page.reload(wait_until="domcontentloaded")  # dismissed on this phone, for this session
        page.wait_for_function("status !== null")
        page.evaluate(QUIET)
        show(page, snapshot(server, 4, parking={**back, "last_session": session}))
        page.wait_for_selector("#parking", state="visible")
        assert page.is_hidden("#parking-return")
        later = {**session, "started_wall": now_s + 60, "ended_wall": now_s + 120,
                 "events": 0, "incidents": []}  # fmt: skip
        show(page, snapshot(server, 5, parking={**back, "last_session": later}))
        page.wait_for_selector("#parking-return", state="visible")
        assert page.text_content("#parking-summary").startswith("Nothing happened while parked")


def test_park_now_and_leave_parking_reach_the_appliance(browser, server, three_incidents):
    with phone_page(browser, server) as page:
        page.evaluate(QUIET)
        idle = {"parked": False, "events": 0, "incidents": [], "since_wall": None,
                "last_session": None}  # fmt: skip
        show(page, snapshot(server, 6, parking=idle))
        page.wait_for_selector("#park-toggle", state="visible")
        page.click("#park-toggle")
        page.wait_for_function("document.getElementById('parking-msg').innerText.length > 0")
        assert page.text_content("#parking-msg").startswith("Parking: the dashcam watches")
        assert wait_until(lambda: get_json(server, "/api/status")["state"] == "parked", 10)
        show(page, snapshot(server, 7, state="parked", parking={**idle, "parked": True}))
        page.wait_for_function(
            "document.getElementById('park-toggle').innerText === 'Leave parking'"
        )
        page.click("#park-toggle")
        page.wait_for_function(
            "document.getElementById('parking-msg').innerText.startsWith('Leaving parking')"
        )
        assert wait_until(lambda: get_json(server, "/api/status")["state"] == "recording", 10)
        post(server, "/api/recording/stop")  # as the other test left it
        assert wait_until(lambda: get_json(server, "/api/status")["state"] == "idle", 10)


def test_without_parking_mode_there_is_no_card(browser, server):
    with phone_page(browser, server) as page:
        page.evaluate(QUIET)
        show(page, snapshot(server, 8, parking=None))
        assert page.is_hidden("#parking")


def test_parking_incidents_have_their_own_words_and_filter_in_the_gallery(
    browser, server, three_incidents
):
    with phone_page(browser, server) as page:
        assert page.evaluate("incidentText({ kind: 'parking' })") == "While parked"
        toast = page.evaluate(
            "incidentToast({ kind: 'parking', clips: [1, 2], wall_s: 1.8e9, complete: true })"
        )
        assert toast.startswith("Event while parked · protected · "), toast
        page.click("a[data-tab='gallery']")
        page.click("#views .chip[data-kind='events']")
        page.wait_for_selector("#event-kinds .chip[data-ikind='parking']", state="visible")
        page.wait_for_function("document.getElementById('count-events').textContent === '3'")
        assert page.text_content("#count-parking") == "0"  # the three are the driver's
        page.click("#event-kinds .chip[data-ikind='parking']")
        page.wait_for_function(
            "document.getElementById('more').textContent === 'Nothing here yet.'"
        )
        assert page.eval_on_selector_all("#gallery .tile[data-incident]", "ts => ts.length") == 0
        page.click("#event-kinds .chip[data-ikind='']")
        page.wait_for_function("document.querySelectorAll('#gallery .tile[data-incident]').length")
