"""Every row of the transition table, driven through a real controller.

For each (state, event) -> target row: bring a whole appliance (simulated camera, mock
pins, a fake disk at the boundary) into the state, post the event, and check that the
controller logged that very transition and reached the target.
"""

import logging

import pytest

from appliance.ports import DiskUsage
from appliance.states import TRANSITIONS, Event, State
from hw.camera.sim import SimulatedCamera
from tests.harness import Appliance, wait_until

GIB = 1024**3


class Disk:
    """A card whose free space a test can take away and give back."""

    def __init__(self):
        self.full = False

    def __call__(self, path):
        return DiskUsage(GIB, 0 if self.full else GIB // 2)


def enter(app, disk, state):
    """Bring ``app`` (not started) into ``state``."""
    ctl = app.controller
    if state is State.STARTING:
        return  # events posted before start are handled in STARTING
    app.start()
    if state is State.ERROR:
        assert ctl.wait_for_state(State.ERROR), "the camera did not fail"
        return
    assert ctl.wait_for_state(State.IDLE)
    if state is State.IDLE:
        return
    if state is State.SHUTTING_DOWN:
        ctl.post(Event.SHUTDOWN)
        return
    if state in (State.PARKED, State.PARKED_EVENT):
        ctl.post(Event.IGNITION_OFF)
        assert ctl.wait_for_state(State.PARKED)
        if state is State.PARKED_EVENT:
            ctl.post(Event.PARKING_TRIGGER)
            assert ctl.wait_for_state(State.PARKED_EVENT)
        return
    ctl.post(Event.START_RECORDING)
    assert wait_until(lambda: ctl.status.recording, 10)
    if state is State.STORAGE_FULL:
        disk.full = True
        ctl.post(Event.STORAGE_FULL)
        assert ctl.wait_for_state(State.STORAGE_FULL)


ROWS = sorted(TRANSITIONS.items(), key=lambda kv: (kv[0][0].value, kv[0][1].value))


@pytest.mark.parametrize(("key", "transition"), ROWS, ids=[f"{s}-{e}" for (s, e), _ in ROWS])
def test_the_controller_follows_the_row(tmp_path, caplog, key, transition):
    source, event = key
    disk = Disk()
    camera = None
    if source is State.ERROR:
        camera = SimulatedCamera(width=320, height=240, fps=30, fail_after_frames=10)
    app = Appliance(
        tmp_path,
        camera=camera,
        disk_usage=disk,
        autostart=False,
        min_free_bytes=1024**2,
        parking=True,
        parking_motion=False,  # the test picture's box always moves
    )
    try:
        with caplog.at_level(logging.INFO, logger="appliance.controller"):
            enter(app, disk, source)
            if source is State.SHUTTING_DOWN:
                pass  # SHUTDOWN_DONE follows by itself
            else:
                if event is Event.STORAGE_OK:
                    disk.full = False  # space came back
                app.controller.post(event)
            if source is State.STARTING:
                app.start()
            line = f"{source.value} --{event.value}--> {transition.target.value}"
            assert wait_until(lambda: any(line in r.getMessage() for r in caplog.records), 10), (
                f"no {line!r} in {[r.getMessage() for r in caplog.records]}"
            )
            final = {State.SHUTTING_DOWN: (State.SHUTTING_DOWN, State.OFF)}.get(
                transition.target, (transition.target,)
            )
            assert app.controller.wait_for_state(*final, timeout_s=10)
    finally:
        app.close()
