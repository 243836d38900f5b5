"""The power request is an event with its detail: the controller performs it after the
safe shutdown, with no callback chain and no thread started to wait for the shutdown."""

from __future__ import annotations

import threading

import pytest
from falcon import testing

from appliance.states import Event, PowerRequest, State
from tests.harness import Appliance
from tests.web_fixtures import dashboard

SAME = {"Origin": "http://falconframework.org", "Sec-Fetch-Site": "same-origin"}


@pytest.mark.parametrize("request_", [PowerRequest.RESTART, PowerRequest.SHUTDOWN])
def test_the_request_reaches_the_power_off_after_the_safe_shutdown(tmp_path, request_):
    done = []
    with Appliance(tmp_path / "card", autostart=False, power_off=done.append) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        ctl.request_power(request_)  # returns at once
        assert ctl.stopped.wait(15) and ctl.state is State.OFF
    assert done == [request_]


def test_a_held_button_powers_off_and_a_later_request_changes_nothing(tmp_path):
    done = []
    with Appliance(tmp_path / "card", autostart=False, power_off=done.append) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        ctl.post(Event.RECORD_HELD)
        ctl.request_power(PowerRequest.RESTART)  # after the shutdown began: ignored
        assert ctl.stopped.wait(15)
    assert done == [PowerRequest.SHUTDOWN]


def test_the_dashboard_starts_no_thread_to_wait_for_the_shutdown(tmp_path):
    with dashboard(tmp_path, autostart=False) as d:
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.IDLE)
        before = {t.ident for t in threading.enumerate()}
        resp = testing.TestClient(d.app, headers=SAME).simulate_post("/api/system/restart")
        assert resp.status_code == 202 and resp.json == {"action": "restart"}
        started = [
            t.name
            for t in threading.enumerate()
            if t.ident not in before and t.name.startswith("web-")
        ]
        assert started == []
        assert ctl.stopped.wait(15) and d.power_calls == ["restart"]
