"""``/api/parking``: "Park now" and "Leave parking" post the ignition's events to the real
controller; refused with a message while parking mode is off or for a bad body."""

from __future__ import annotations

import pytest
from falcon import testing

from appliance.states import State
from tests.harness import wait_until
from tests.test_web_api import SAME, assert_error
from tests.web_fixtures import dashboard


@pytest.fixture
def parking_client(tmp_path):
    with dashboard(tmp_path, autostart=True, parking=True) as d:
        assert d.appliance.controller.wait_for_state(State.RECORDING)
        yield testing.TestClient(d.app, headers=SAME), d.appliance.controller


def test_park_now_and_leave_parking_post_the_ignitions_events(parking_client):
    client, ctl = parking_client
    resp = client.simulate_post("/api/parking", json={"parked": True})
    assert resp.status_code == 202 and resp.json == {"event": "ignition_off"}
    assert ctl.wait_for_state(State.PARKED, timeout_s=5)
    resp = client.simulate_post("/api/parking", json={"parked": False})
    assert resp.status_code == 202 and resp.json == {"event": "ignition_on"}
    assert ctl.wait_for_state(State.RECORDING, timeout_s=5)


@pytest.mark.parametrize(
    ("body", "status", "pattern"),
    [
        ({}, 422, "parked"),
        ({"parked": "yes"}, 422, "parked"),
        ({"parked": 1}, 422, "parked"),
        ({"parked": True, "now": True}, 422, "now"),
        ([True], 400, "JSON object"),
    ],
)
def test_a_bad_body_is_refused_with_a_message_and_changes_nothing(
    parking_client, body, status, pattern
):
    client, ctl = parking_client
    assert_error(client.simulate_post("/api/parking", json=body), status, pattern)
    assert not wait_until(lambda: ctl.state is not State.RECORDING, 0.5)


def test_with_parking_mode_off_the_command_is_refused(tmp_path):
    with dashboard(tmp_path, autostart=True) as d:
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.RECORDING)
        client = testing.TestClient(d.app, headers=SAME)
        resp = client.simulate_post("/api/parking", json={"parked": True})
        assert_error(resp, 409, r"^Parking mode is off on this dashcam")
        assert not wait_until(lambda: ctl.state is not State.RECORDING, 0.5)
        assert client.simulate_get("/api/status").json["parking"] is None


def test_the_battery_voltage_is_read_from_the_monitor(tmp_path):
    from hw.battery import INA219, BatteryWatch, SimulatedINA219
    from tests.web_fixtures import TEST_HOSTS
    from web.app import create_app

    chip = SimulatedINA219(12.47)
    with dashboard(tmp_path, autostart=False, parking=True, battery_monitor="ina219") as d:
        ctl = d.appliance.controller
        watch = BatteryWatch(
            INA219(chip.bus(), 0x40).read_voltage_v, ctl.post, lambda: False, lambda: 11.8
        )
        app = create_app(ctl, d.appliance.library, battery=watch, allowed_hosts=TEST_HOSTS)
        client = testing.TestClient(app, headers=SAME)
        try:
            body = client.simulate_get("/api/parking").json
            assert body == {"battery_monitor": "ina219", "battery_v": None, "cutoff_v": 11.8}
            watch.poll()  # the watch's thread reads every few seconds; here once
            assert client.simulate_get("/api/parking").json["battery_v"] == 12.47
            chip.voltage_v = 11.2
            watch.poll()
            assert client.simulate_get("/api/parking").json["battery_v"] == 11.2
        finally:
            app.close_streams()
        none = testing.TestClient(d.app, headers=SAME).simulate_get("/api/parking").json
        assert none["battery_v"] is None
