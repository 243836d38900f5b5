"""The dashboard in a real WebKit engine (WebKitGTK, :mod:`tests.webkit_fixtures`).

The Chromium tests cover the page in depth; these check that WebKit (Safari's engine,
every iPhone browser's) runs it too: the live state arrives and the engine can decode
the camera's H.264.
"""

from __future__ import annotations

import pytest

from tests.browser_fixtures import sim_server
from tests.harness import wait_until
from tests.webkit_fixtures import webkit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with sim_server(tmp_path_factory.mktemp("webkit")) as base:
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
