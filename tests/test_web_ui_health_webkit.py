"""The Health card in WebKit (Safari's engine: every iPhone browser), against an appliance
whose health comes from a fake sysfs tree: the words, the warning, the paused live view."""

from __future__ import annotations

import pytest

from tests.health_fixtures import served_car
from tests.webkit_fixtures import wait_js, webkit


@pytest.fixture(scope="module")
def driver():
    with webkit() as d:
        yield d


def texts(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#health-lines li')].map((li) => li.textContent);"
    )


def test_the_health_card_and_the_hot_camera_in_webkit(driver, tmp_path):
    with served_car(tmp_path) as (fake, base, d):
        driver.get(base + "/")
        assert wait_js(
            driver,
            "status && status.health && /saved/.test("
            "document.querySelector('#health-lines [data-key=clip]').textContent)",
        )
        shown = texts(driver)
        assert shown[0] == "Temperature 72 °C, normal"
        assert "Card: about 12 % of its rated writes used" in shown
        warning = driver.execute_script("return document.getElementById('health-warning');")
        assert warning.is_displayed()
        assert warning.text == "Under-voltage since boot: check the power supply"

        fake.set_temp_c(82.0)
        assert wait_js(driver, "status.health.thermal_step === 'hot'")
        assert wait_js(driver, "!document.getElementById('preview-note').hidden")
        note = driver.execute_script("return document.getElementById('preview-note').textContent")
        assert note == "Preview paused: the camera is hot"
        src = driver.execute_script("return document.getElementById('preview').getAttribute('src')")
        assert src is None
        assert texts(driver)[0] == "Temperature 82 °C, hot: lower frame rate too; recording goes on"

        fake.set_temp_c(60.0)
        assert wait_js(driver, "document.getElementById('liveview').dataset.playing === 'true'", 15)
        assert driver.execute_script("return document.getElementById('preview-note').hidden")
        driver.get("about:blank")  # the live view's stream closed before the server stops
