"""The lost connection and the 401 -> login path in a real WebKit engine (WebKitGTK,
:mod:`tests.webkit_fixtures`): Safari's engine, every iPhone browser's. Its EventSource and
<img> streams fail their own way; the page must still tell the truth there.
"""

from __future__ import annotations

import contextlib

import pytest

from tests.browser_fixtures import sim_server
from tests.harness import wait_until
from tests.web_fixtures import free_port
from tests.webkit_fixtures import webkit

pytestmark = pytest.mark.slow

PASSWORD = "correct horse"

STATE = """
const $ = (id) => document.getElementById(id);
return { url: location.pathname, link: document.documentElement.dataset.link,
  state: $("state") && $("state").dataset.state, stateText: $("state") && $("state").textContent,
  offline: !!$("offline") && !$("offline").hidden,
  frozen: !!$("liveview") && $("liveview").dataset.frozen === "true" && !$("frozen").hidden,
  clock: $("clock") && $("clock").textContent,
  controls: ["photo", "record", "protect"].map((id) => $(id) && [$(id).disabled, $(id).title]) };
"""


@pytest.fixture(scope="module")
def driver():
    with webkit() as d:
        yield d


def page_state(driver) -> dict:
    """What the page shows; empty while a navigation leaves no page to ask (a script asked
    then may time out). A crashed page still fails the test (the session is gone)."""
    from selenium.common.exceptions import InvalidSessionIdException, WebDriverException

    try:
        return driver.execute_script(STATE)
    except InvalidSessionIdException:
        raise
    except WebDriverException:
        return {"url": None, "link": None, "state": None}


def test_a_lost_connection_shows_and_comes_back_in_webkit(driver, tmp_path):
    port = free_port()
    with contextlib.ExitStack() as first:
        base = first.enter_context(sim_server(tmp_path, port=port))
        driver.get(base + "/")
        assert wait_until(lambda: page_state(driver)["state"] == "recording", 15)
        first.close()
        assert wait_until(lambda: page_state(driver)["link"] == "lost", 5), page_state(driver)
        lost = page_state(driver)
        assert lost["stateText"] == "No connection" and lost["offline"] and lost["frozen"], lost
        assert lost["controls"] == [[True, "No connection to the dashcam."]] * 3, lost
        # The clock stays where it stopped (it ticks every 250 ms while live).
        assert not wait_until(lambda: page_state(driver)["clock"] != lost["clock"], 1.5)
        with sim_server(tmp_path, port=port):
            back = lambda: page_state(driver)  # noqa: E731
            assert wait_until(
                lambda: back()["link"] == "live" and back()["state"] == "recording", 15
            ), back()
            now = back()
            assert not now["offline"] and not now["frozen"], now
            assert now["controls"] == [[False, ""]] * 3, now


def test_after_a_restart_with_a_password_webkit_goes_to_the_login(driver, tmp_path):
    from selenium.webdriver.common.by import By

    port = free_port()
    config = f'web_password = "{PASSWORD}"\n'
    with contextlib.ExitStack() as first:
        base = first.enter_context(sim_server(tmp_path, config, port=port))
        driver.get(base + "/")
        assert wait_until(lambda: page_state(driver)["url"] == "/login", 10)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        assert wait_until(lambda: page_state(driver)["state"] == "recording", 15), page_state(
            driver
        )
        first.close()
        assert wait_until(lambda: page_state(driver)["link"] == "lost", 5), page_state(driver)
        with sim_server(tmp_path, config, port=port):
            assert wait_until(lambda: page_state(driver)["url"] == "/login", 15), page_state(driver)
