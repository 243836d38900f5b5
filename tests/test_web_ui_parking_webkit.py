"""The parking card in a real WebKit engine (Safari's, every iPhone browser's;
:mod:`tests.webkit_fixtures`) against a ``dashcam run --sim`` child with ``parking = true``:
parked, back with an event that opens in the player, dismissed. Snapshots are handed to the
page's own ``showStatus`` as in ``tests/test_web_ui_parking.py``."""

from __future__ import annotations

import pytest

from tests.browser_fixtures import get_json, post, sim_server
from tests.harness import wait_until
from tests.test_web_ui_parking import CONFIG, QUIET, snapshot
from tests.webkit_fixtures import wait_js, webkit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sim_server(tmp_path_factory.mktemp("parking-webkit"), CONFIG) as base:
        yield base


@pytest.fixture(scope="module")
def driver():
    with webkit() as d:
        yield d


def text(driver, selector: str) -> str:
    return driver.execute_script(f"return document.querySelector({selector!r}).innerText")


def hidden(driver, selector: str) -> bool:
    return driver.execute_script(
        f"return document.querySelector({selector!r}).getClientRects().length === 0"
    )


def test_the_parking_card_in_webkit(driver, server):
    post(server, "/api/incidents")
    assert wait_until(lambda: get_json(server, "/api/incidents"), 15)
    incident = get_json(server, "/api/incidents")[0]["id"]
    post(server, "/api/recording/stop")
    assert wait_until(lambda: get_json(server, "/api/status")["state"] == "idle", 10)
    driver.get(server + "/")
    assert wait_js(driver, "document.getElementById('link').dataset.live === 'true'", 15)
    assert wait_js(driver, "status !== null")
    driver.execute_script(QUIET)
    now_s = get_json(server, "/api/status")["clock_ms"] / 1000
    parked = {"parked": True, "events": 1, "incidents": [incident], "since_wall": now_s - 60,
              "last_session": None}  # fmt: skip
    driver.execute_script(
        "showStatus(arguments[0])", snapshot(server, 1, state="parked", parking=parked)
    )
    assert wait_js(driver, "!document.getElementById('parking').hidden")
    assert text(driver, "#state").upper() == "PARKED · WATCHING"
    assert text(driver, "#parking-watch").startswith("Parked: watching · 1 event since ")

    session = {"started_wall": now_s - 60, "ended_wall": now_s, "events": 1,
               "incidents": [incident]}  # fmt: skip
    back = {**parked, "parked": False, "since_wall": None, "last_session": session}
    driver.execute_script("showStatus(arguments[0])", snapshot(server, 2, parking=back))
    assert wait_js(driver, "document.querySelectorAll('#parking-events button').length === 1")
    assert text(driver, "#parking-summary").startswith("1 event while parked (")
    assert hidden(driver, "#parking-watch")
    driver.execute_script("document.querySelector('#parking-events button').click()")
    assert wait_js(driver, "document.getElementById('player').open")
    driver.execute_script("document.getElementById('player-close').click()")
    assert wait_js(driver, "!document.getElementById('player').open")
    driver.execute_script("document.getElementById('parking-dismiss').click()")
    assert hidden(driver, "#parking-return")
    assert driver.execute_script("return localStorage.getItem('dashcam.parking.dismissed')")
