"""The controller takes exactly the settings that apply live, and runs on its injected clock."""

from __future__ import annotations

import dataclasses
import threading
import time

from appliance.config import settable
from appliance.health import NoReadings
from appliance.ports import Clock
from appliance.states import Event, State
from tests.harness import Appliance, wait_until

#: Live keys the panel and the preview hub own: the dashboard applies them through their
#: callbacks (``set_led_brightness``, ``hub.max_viewers``); the controller only keeps them
#: in its config.
APPLIED_BY_THEIR_OWNERS = {"led_brightness": 0.25, "preview_max_viewers": 2}


def test_every_live_key_changes_the_running_appliance(tmp_path):
    with Appliance(tmp_path / "card", autostart=False, health_source=NoReadings()) as app:
        ctl, lib, health = app.controller, app.library, app.health
        probes = {
            "segment_seconds": (7.0, lambda: ctl.recorder.segment_seconds),
            "min_free_bytes": (123_456, lambda: lib.min_free_bytes),
            "min_free_percent": (3.5, lambda: lib.min_free_percent),
            "loop_quota_bytes": (9_000_000, lambda: lib.loop_quota_bytes),
            "protected_quota_percent": (42.0, lambda: lib.protected_quota_percent),
            "autostart": (True, lambda: ctl.config.autostart),
            "thermal_warm_c": (70.0, lambda: health.policy.warm_c),
            "thermal_hot_c": (85.0, lambda: health.policy.hot_c),
            "card_endurance_tb": (2.0, lambda: health.config.card_endurance_tb),
            # Parking reads these from the controller's config where it uses them (the
            # ignition, a trigger, the next parking; test_parking drives them parked).
            "parking": (True, lambda: ctl.config.parking),
            "parking_fps": (7, lambda: ctl.config.parking_fps),
            "parking_bitrate": (700_000, lambda: ctl.config.parking_bitrate),
            "parking_preroll_s": (4.0, lambda: ctl.config.parking_preroll_s),
            "parking_postroll_s": (6.0, lambda: ctl.config.parking_postroll_s),
            "parking_motion": (False, lambda: ctl.config.parking_motion),
            "parking_motion_sensitivity": (0.8, lambda: ctl.config.parking_motion_sensitivity),
            "parking_mask_bottom_percent": (
                15.0,
                lambda: ctl.config.parking_mask_bottom_percent,
            ),
            "parking_max_hours": (2.0, lambda: ctl.config.parking_max_hours),
            # The battery watch reads the cut-off from the controller's config at each reading.
            "battery_cutoff_v": (12.2, lambda: ctl.config.battery_cutoff_v),
        }
        live = {key for key, now in settable().items() if now}
        assert live == set(probes) | set(APPLIED_BY_THEIR_OWNERS), "a live key lacks a probe"
        headroom = ctl.recorder.headroom_bytes
        for key, (value, read) in probes.items():
            assert read() != value, key
            ctl.apply_config(dataclasses.replace(ctl.config, **{key: value}))
            assert read() == value, key
        assert ctl.recorder.headroom_bytes > headroom  # it follows the segment length
        for key, value in APPLIED_BY_THEIR_OWNERS.items():
            ctl.apply_config(dataclasses.replace(ctl.config, **{key: value}))
            assert getattr(ctl.config, key) == value


def test_a_key_that_needs_a_restart_keeps_its_running_value(tmp_path):
    changed = {
        "video_width": 640,
        "video_height": 480,
        "video_fps": 15,
        "video_bitrate": 1_000_000,
        "preview_fps": 5,
    }
    assert set(changed) == {key for key, now in settable().items() if not now}
    with Appliance(tmp_path / "card", autostart=False) as app:
        ctl = app.controller
        running = ctl.config
        ctl.apply_config(dataclasses.replace(running, segment_seconds=9.0, **changed))
        assert ctl.config.segment_seconds == 9.0
        assert {key: getattr(ctl.config, key) for key in changed} == {
            key: getattr(running, key) for key in changed
        }


class ShiftedClock(Clock):
    """The real clocks, with the monotonic one moved on by hand."""

    def __init__(self) -> None:
        self.shift_s = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return time.monotonic() + self.shift_s

    def jump(self, seconds: float) -> None:
        with self._lock:
            self.shift_s += seconds


def test_the_segment_clock_is_the_injected_one(tmp_path):
    clock = ShiftedClock()
    with Appliance(tmp_path / "card", clock=clock, autostart=False, segment_seconds=60.0) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        ctl.post(Event.START_RECORDING)
        assert wait_until(lambda: ctl.status.segment_seq is not None, 10)
        assert ctl.status.segment_elapsed_s < 30
        clock.jump(1000.0)
        assert ctl.status.segment_elapsed_s >= 1000
