"""Parking mode through a real controller: the ring, the triggers, the clips, the way back.

The simulated camera burns its frame index into every frame; the clips written are read
back with PyAV and their counters compared with the frame of the trigger.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
import pytest
from falcon import testing

from appliance.config import Config
from appliance.incident import IncidentKind
from appliance.library import Kind
from appliance.motion import MotionDetector
from appliance.parking import MotionWatch, ParkingGate
from appliance.ports import Clock, EncodedPacket
from appliance.states import Event, State
from hw.camera.scenes import Flicker, MovingObject, StillScene
from hw.camera.sim import SimulatedCamera
from hw.console import STATE_LABELS, status_line
from hw.panel import STATE_PATTERNS
from tests.harness import Appliance, decode_counters, wait_until
from tests.test_appliance import assert_pattern_played
from tests.web_fixtures import dashboard

FPS = 30  # the simulated camera's driving rate
PFPS = 10  # its rate while parked
PARKING = {
    "parking": True,
    "parking_fps": PFPS,
    "parking_bitrate": 200_000,
    "parking_motion": False,  # the default picture's box always moves: the scenes turn it on
    "parking_preroll_s": 2.0,
    "parking_postroll_s": 2.0,
    "segment_seconds": 60.0,
    "autostart": False,
}


def parked(tmp_path, **overrides) -> Appliance:
    """An appliance started and parked, its ring holding more than the pre-roll."""
    app = Appliance(tmp_path, **{**PARKING, **overrides})
    ctl = app.controller
    app.start()
    assert ctl.wait_for_state(State.IDLE)
    ctl.post(Event.IGNITION_OFF)
    assert ctl.wait_for_state(State.PARKED)
    preroll_s = app.config.parking_preroll_s
    assert wait_until(lambda: ring_s(app) >= preroll_s + 1.0, 20), "the ring did not fill"
    return app


def ring_s(app) -> float:
    ring = app.controller.gate.ring
    return ring.span_s if ring is not None else 0.0


def newest_frame(app) -> int:
    """The index of the newest frame the camera made."""
    return app.camera.frames_encoded - 1


def parking_incidents(app):
    return [i for i in app.library.incidents() if i.kind is IncidentKind.PARKING]


def wait_clip_done(app, n: int = 1, timeout_s: float = 20.0):
    """Wait until ``n`` parking incidents are complete and the watch is back to PARKED."""
    ctl = app.controller
    assert wait_until(
        lambda: (
            len(parking_incidents(app)) >= n and all(i.complete for i in parking_incidents(app))
        ),
        timeout_s,
    ), f"incidents: {app.library.incidents()}"
    assert ctl.wait_for_state(State.PARKED, timeout_s=timeout_s)
    return parking_incidents(app)


def clip_counters(app, incident) -> list[int]:
    counters: list[int] = []
    for seq in incident.clips:
        item = app.library.get(seq)
        assert item.kind is Kind.PROTECTED
        counters += decode_counters(item.path)
    return counters


def test_parked_nothing_is_written_and_the_ring_holds_the_preroll(tmp_path):
    app = parked(tmp_path)
    try:
        ctl = app.controller
        seen = app.library.counts()
        closed = ctl.recorder.frames_written
        start = newest_frame(app)
        assert wait_until(lambda: newest_frame(app) >= start + 2 * PFPS, 10)
        assert ctl.recorder.frames_written == closed  # nothing written while parked
        assert app.library.counts() == seen
        assert not ctl.status.recording
        ring = ctl.gate.ring
        assert ring is not None and ring.bytes <= ring.max_bytes
        held = ring.held()
        assert held[0].keyframe
        assert ring.span_s >= app.config.parking_preroll_s
        status = ctl.status.parking
        assert status["parked"] is True and status["events"] == 0
        assert status["since_wall"] is not None and status["last_session"] is None
    finally:
        app.close()


def test_every_state_has_an_led_pattern_and_a_console_label():
    assert set(STATE_PATTERNS) == set(State)
    assert set(STATE_LABELS) == set(State)
    names = [p.name for p in STATE_PATTERNS.values()]
    assert len(set(names)) == len(names)  # each state tells itself apart


def test_the_led_blips_while_parked_and_the_console_counts_the_events(tmp_path):
    app = parked(tmp_path)
    try:
        ctl = app.controller
        assert wait_until(lambda: app.panel.led_pattern is STATE_PATTERNS[State.PARKED])
        pin = app.led_pin
        mark = len(pin.states)
        assert wait_until(lambda: len(pin.states) >= mark + 5, 10)
        assert_pattern_played(pin, STATE_PATTERNS[State.PARKED], mark)
        line = status_line(ctl.status, ctl.status.since_wall + 5)
        assert line.startswith("PARKED 00:00:05") and "0 events while parked" in line
        ctl.post(Event.IMPACT)
        assert wait_until(lambda: app.panel.led_pattern is STATE_PATTERNS[State.PARKED_EVENT])
        wait_clip_done(app)
        assert "1 event while parked" in status_line(ctl.status, ctl.status.since_wall)
    finally:
        app.close()


def test_a_bump_writes_a_parking_clip_with_the_preroll_before_it(tmp_path):
    app = parked(tmp_path)
    try:
        ctl = app.controller
        trigger = newest_frame(app)
        ctl.post(Event.IMPACT)
        assert ctl.wait_for_state(State.PARKED_EVENT)
        (incident,) = wait_clip_done(app)
        counters = clip_counters(app, incident)
        cfg = app.config
        assert counters == list(range(counters[0], counters[0] + len(counters)))  # no gap
        assert counters[0] <= trigger - cfg.parking_preroll_s * PFPS, (counters[0], trigger)
        assert counters[-1] >= trigger + (cfg.parking_postroll_s - 0.5) * PFPS
        assert ctl.recorder.frames_dropped == 0
        status = ctl.status.parking
        assert status["events"] == 1 and status["incidents"] == [incident.id]
        assert ctl.state is State.PARKED and not ctl.status.recording
    finally:
        app.close()


def test_a_trigger_in_the_postroll_extends_the_same_clip(tmp_path):
    app = parked(tmp_path)
    try:
        ctl = app.controller
        cfg = app.config
        first = newest_frame(app)
        ctl.post(Event.IMPACT)
        assert ctl.wait_for_state(State.PARKED_EVENT)
        assert wait_until(lambda: newest_frame(app) >= first + int(1.5 * PFPS), 10)
        second = newest_frame(app)
        ctl.post(Event.PARKING_TRIGGER, {"why": "motion"})
        assert ctl.state is State.PARKED_EVENT
        (incident,) = wait_clip_done(app)  # one incident
        counters = clip_counters(app, incident)
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert counters[0] <= first - cfg.parking_preroll_s * PFPS
        assert counters[-1] >= second + (cfg.parking_postroll_s - 0.5) * PFPS
        span_s = len(counters) / PFPS
        assert span_s > cfg.parking_preroll_s + cfg.parking_postroll_s + 1.0
        assert len(parking_incidents(app)) == 1
    finally:
        app.close()


def test_the_protect_button_while_parked_writes_a_parking_clip(tmp_path):
    app = parked(tmp_path)
    try:
        app.press(app.panel.protect)
        (incident,) = wait_clip_done(app)
        assert incident.kind is IncidentKind.PARKING and incident.clips
    finally:
        app.close()


def test_leaving_parking_resumes_loop_recording_without_a_lost_frame(tmp_path):
    app = parked(tmp_path, segment_seconds=1.0)
    try:
        ctl = app.controller
        at_leave = newest_frame(app)
        assert app.camera.video_rate == (PFPS, 200_000)
        ctl.post(Event.IGNITION_ON)
        assert ctl.wait_for_state(State.RECORDING)
        assert wait_until(lambda: app.camera.video_rate == (FPS, 400_000), 5)  # driving rate
        assert ctl.gate.ring is None  # the ring is let go
        assert wait_until(lambda: app.segments and app.segments[-1].seq >= 3, 20)
        flushed = ctl.gate.last_flush_first
        assert flushed is not None and flushed.keyframe
        assert flushed.frame_index <= at_leave  # recording starts from the ring
        counters: list[int] = []
        for seq in (1, 2, 3):  # the first clips on the card
            item = app.library.get(seq)
            assert item.kind is Kind.LOOP
            counters += decode_counters(item.path)
        assert counters[0] == flushed.frame_index
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert ctl.recorder.frames_dropped == 0
        status = ctl.status.parking
        assert status["parked"] is False and status["last_session"]["ended_wall"] is not None
    finally:
        app.close()


def test_leaving_during_a_parking_clip_keeps_recording_and_protects_the_clip(tmp_path):
    app = parked(tmp_path, segment_seconds=1.0)
    try:
        ctl = app.controller
        ctl.post(Event.IMPACT)
        assert ctl.wait_for_state(State.PARKED_EVENT)
        assert wait_until(lambda: ctl.status.recording, 10)
        app.press(app.panel.record)  # the driver is back: record
        assert ctl.wait_for_state(State.RECORDING)
        (incident,) = parking_incidents(app)
        last = max(incident.clips)
        assert wait_until(lambda: app.segments and app.segments[-1].seq >= last + 2, 20)
        items = [app.library.get(seq) for seq in range(min(incident.clips), last + 3)]
        counters: list[int] = []
        for item in items:
            counters += decode_counters(item.path)
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert {i.seq for i in items if i.kind is Kind.PROTECTED} == set(incident.clips)
        assert [i.kind for i in items[-2:]] == [Kind.LOOP] * 2  # loop clips after the clip
        assert ctl.status.parking["last_session"]["events"] == 1
    finally:
        app.close()


def test_parking_off_ignores_the_ignition_and_ignition_on_leaves(tmp_path, caplog):
    app = Appliance(tmp_path, **{**PARKING, "parking": False})
    try:
        ctl = app.controller
        app.start()
        assert ctl.wait_for_state(State.IDLE)
        assert ctl.status.parking is None
        with caplog.at_level(logging.INFO, logger="appliance.controller"):
            ctl.post(Event.IGNITION_OFF)
            assert wait_until(
                lambda: any("ignition off ignored" in r.getMessage() for r in caplog.records), 5
            )
        assert ctl.state is State.IDLE
    finally:
        app.close()


def test_the_ignition_is_remembered_through_the_start_and_an_error(tmp_path):
    app = Appliance(tmp_path, **{**PARKING, "autostart": True}, retry_interval_s=0.2)
    try:
        ctl = app.controller
        ctl.post(Event.IGNITION_OFF)  # in STARTING: no row, but remembered
        app.start()
        assert ctl.wait_for_state(State.PARKED, timeout_s=10)
        ctl.post(Event.STORAGE_FAILED, OSError("a card hiccup"))
        assert ctl.wait_for_state(State.ERROR)
        assert ctl.gate.ring is None  # packets pass again while in ERROR
        assert ctl.wait_for_state(State.PARKED, timeout_s=10)  # recovered: parked again
        ctl.post(Event.IGNITION_ON)
        assert ctl.wait_for_state(State.RECORDING)  # autostart: loop recording
        assert wait_until(lambda: ctl.status.recording, 10)
    finally:
        app.close()


class SteppedClock(Clock):
    """The real clocks, with monotonic time a test can move forward (hours parked)."""

    def __init__(self):
        self.ahead_s = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + self.ahead_s


def test_the_longest_parking_time_shuts_down(tmp_path):
    clock = SteppedClock()
    powered_off = threading.Event()
    app = Appliance(
        tmp_path,
        **{**PARKING, "parking_max_hours": 0.05},
        clock=clock,
        power_off=lambda request: powered_off.set(),
    )
    try:
        ctl = app.controller
        app.start()
        assert ctl.wait_for_state(State.IDLE)
        ctl.post(Event.IGNITION_OFF)
        assert ctl.wait_for_state(State.PARKED)
        clock.ahead_s = 0.05 * 3600 - 5.0
        assert not ctl.wait_for_state(State.SHUTTING_DOWN, State.OFF, timeout_s=1.5)
        clock.ahead_s = 0.05 * 3600 + 1.0
        assert ctl.wait_for_state(State.SHUTTING_DOWN, State.OFF, timeout_s=5)
        assert powered_off.wait(10)
    finally:
        app.close()


def test_a_parking_incident_is_listed_by_the_api(tmp_path):
    with dashboard(tmp_path, **PARKING) as d:
        client = testing.TestClient(d.app)
        ctl = d.appliance.controller
        assert ctl.wait_for_state(State.IDLE)
        ctl.post(Event.IGNITION_OFF)
        assert ctl.wait_for_state(State.PARKED)
        assert wait_until(lambda: ring_s(d.appliance) >= 1.0, 10)
        status = client.simulate_get("/api/status")
        assert status.status_code == 200 and status.json["parking"]["parked"] is True
        ctl.post(Event.IMPACT)
        (incident,) = wait_clip_done(d.appliance)
        listed = client.simulate_get("/api/incidents").json
        assert [(i["id"], i["kind"]) for i in listed] == [(incident.id, "parking")]
        assert client.simulate_get("/api/incidents?kind=parking").json == listed
        shown = client.simulate_get(f"/api/incidents/{incident.id}")
        assert shown.status_code == 200
        assert [i["kind"] for i in shown.json["items"]] == ["protected"] * len(incident.clips)


# --- the gate and the motion watch alone: never take the recording down ---------------


class Sink:
    """Stands in for the recorder's two entry points."""

    def __init__(self):
        self.packets: list[EncodedPacket] = []

    def put(self, packet):
        self.packets.append(packet)

    def put_backlog(self, packets):
        self.packets.extend(packets)


def packet(n, keyframe=None, data=b"x" * 100):
    return EncodedPacket(data, n * 200_000, n % 5 == 0 if keyframe is None else keyframe, n)


def test_a_broken_packet_in_the_gate_still_reaches_the_recorder_unless_parked(tmp_path, caplog):
    sink = Sink()
    gate = ParkingGate(sink)
    cfg = Config(parking=True, storage_root=str(tmp_path))
    gate.park(cfg)
    for n in range(30):
        gate.put(packet(n))
    assert sink.packets == []
    gate.start_clip(None)
    broken = EncodedPacket(None, 30 * 200_000, False, 30)  # len() of it raises in the ring
    with caplog.at_level(logging.ERROR, logger="appliance.parking"):
        gate.put(broken)
    assert any("parking gate failed" in r.getMessage() for r in caplog.records)
    assert sink.packets[-1] is broken  # writing a clip: it still goes on
    gate.put(packet(31))
    assert sink.packets[-1].frame_index == 31
    gate.leave(flush=False)
    gate.put(packet(32))
    assert sink.packets[-1].frame_index == 32


def test_a_failing_motion_frame_is_logged_not_raised(caplog):
    posted = []
    watch = MotionWatch(MotionDetector(), posted.append)
    with caplog.at_level(logging.ERROR, logger="appliance.parking"):
        watch(np.zeros((4, 4, 3), np.uint8), 0)  # not a grey frame
        watch(None, 1)
    assert posted == []
    assert sum("motion detection failed" in r.getMessage() for r in caplog.records) == 1


def test_the_gsensor_threshold_follows_the_mode_and_a_light_knock_triggers_parked(tmp_path):
    from hw.app import start_gsensor

    app = Appliance(tmp_path, **{**PARKING, "gsensor_threshold_g": 1.5})
    watcher = None
    try:
        ctl = app.controller
        app.start()
        assert ctl.wait_for_state(State.IDLE)
        watcher, trace = start_gsensor(app.config, ctl, simulated=True)
        assert watcher is not None and trace is not None
        assert wait_until(lambda: watcher.detector.calibrated, 10)
        assert watcher.detector.threshold_g == 1.5
        ctl.post(Event.IGNITION_OFF)
        assert ctl.wait_for_state(State.PARKED)
        assert wait_until(lambda: watcher.detector.threshold_g == 0.4, 5)
        assert wait_until(lambda: ring_s(app) >= 3.0, 10)
        trace.play("pothole")  # 1.2 g: nothing while driving, a knock on a parked car
        (incident,) = wait_clip_done(app)
        assert incident.kind is IncidentKind.PARKING
        ctl.post(Event.IGNITION_ON)
        assert ctl.wait_for_state(State.RECORDING)
        assert wait_until(lambda: watcher.detector.threshold_g == 1.5, 5)
    finally:
        if watcher is not None:
            watcher.close()
        app.close()


def test_a_preroll_longer_than_the_recorders_queue_bound_is_not_dropped(tmp_path):
    # 10 fps: the recorder's queue takes 40 packets; the pre-roll flush is 50 and more.
    app = parked(tmp_path, video_fps=10, parking_preroll_s=5.0)
    try:
        ctl = app.controller
        assert ctl.recorder.queued == 0
        trigger = newest_frame(app)
        ctl.post(Event.IMPACT)
        (incident,) = wait_clip_done(app)
        counters = clip_counters(app, incident)
        assert counters[0] <= trigger - 5.0 * 10
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        assert ctl.recorder.frames_dropped == 0
    finally:
        app.close()


# --- motion in the picture: the simulated camera films scripted scenes ----------------


def scene_app(tmp_path, scene, *, realtime=True, **overrides) -> Appliance:
    """An appliance whose simulated camera films ``scene`` (parked once started)."""
    camera = SimulatedCamera(
        width=320, height=240, fps=FPS, bitrate=400_000, scene=scene, realtime=realtime
    )
    app = Appliance(tmp_path, camera=camera, **{**PARKING, "parking_motion": True, **overrides})
    ctl = app.controller
    app.start()
    assert ctl.wait_for_state(State.IDLE)
    ctl.post(Event.IGNITION_OFF)
    assert ctl.wait_for_state(State.PARKED)
    return app


def test_an_object_walking_in_triggers_a_clip_with_the_preroll_before_it_appeared(tmp_path):
    walker = MovingObject(appears_at_s=7.0, leaves_at_s=10.0)
    app = scene_app(tmp_path, walker, parking_fps=5, parking_bitrate=200_000)
    try:
        ctl = app.controller
        assert wait_until(lambda: app.camera.video_rate == (5, 200_000), 5)  # parking rate
        assert ctl.wait_for_state(State.PARKED_EVENT, timeout_s=20), "no trigger"
        appeared = walker.appeared_index
        assert appeared is not None
        (incident,) = wait_clip_done(app, timeout_s=30)
        counters = clip_counters(app, incident)
        assert counters == list(range(counters[0], counters[0] + len(counters)))
        # Every frame before the object came is at the parking rate (5 a second).
        assert appeared - counters[0] >= app.config.parking_preroll_s * 5, (counters[0], appeared)
        assert counters[-1] > appeared
        assert ctl.status.parking["events"] == 1
        assert ctl.status.parking["motion"] is True
    finally:
        app.close()


@pytest.mark.parametrize(
    ("scene", "overrides"),
    [
        (StillScene(noise=6), {}),
        (Flicker(period_s=0.8, amplitude=40), {}),
        (
            MovingObject(appears_at_s=0.0, band=(0.85, 1.0), speed=0.5),
            {"parking_mask_bottom_percent": 20.0},
        ),
    ],
    ids=["still", "flicker", "bonnet"],
)
@pytest.mark.parametrize("sensitivity", [0.5, 1.0])
def test_a_still_scene_a_flickering_light_and_the_bonnet_trigger_nothing(
    tmp_path, scene, overrides, sensitivity
):
    # Faster than real time: 20 s of the camera's time; the motion frames come at 5 a
    # second of camera time, whatever the machine's speed.
    app = scene_app(
        tmp_path,
        scene,
        realtime=False,
        parking_fps=5,
        parking_motion_sensitivity=sensitivity,
        **overrides,
    )
    try:
        ctl = app.controller
        watch = ctl._motion
        assert watch is not None
        assert wait_until(lambda: watch.frames >= 100, 60), watch.frames
        assert watch.triggers == 0
        assert ctl.state is State.PARKED and parking_incidents(app) == []
    finally:
        app.close()


def test_the_same_bonnet_movement_unmasked_triggers(tmp_path):
    """The bonnet case's control: without the mask the same movement is seen."""
    scene = MovingObject(appears_at_s=0.0, band=(0.85, 1.0), speed=0.5)
    app = scene_app(tmp_path, scene, realtime=False, parking_fps=5)
    try:
        watch = app.controller._motion
        assert watch is not None
        assert wait_until(lambda: watch.triggers >= 1, 60), watch.frames
    finally:
        app.close()


def test_the_ring_stays_within_its_bound_on_a_busy_picture(tmp_path):
    # Heavy noise on every pixel, faster than real time: the encoder works at the top of
    # the parking bit rate. (The unit tests drive the ring past its bound with spikes.)
    app = scene_app(
        tmp_path, StillScene(noise=64), realtime=False, parking_motion=False, parking_fps=10
    )
    try:
        gate, camera = app.controller.gate, app.camera
        most = {"bytes": 0, "packets": 0}
        start = camera.frames_encoded

        def sample() -> bool:
            ring = gate.ring
            held = ring.held()
            assert not held or held[0].keyframe
            most["bytes"] = max(most["bytes"], ring.bytes)
            most["packets"] = max(most["packets"], len(ring))
            return camera.frames_encoded > start + 600  # a minute at 10 fps

        assert wait_until(sample, 60, interval_s=0.002)
        ring = gate.ring
        assert most["bytes"] <= ring.max_bytes and most["packets"] <= ring.max_packets
        assert ring.span_s >= app.config.parking_preroll_s
        assert ring.dropped_early == 0  # the bound leaves the pre-roll whole at this rate
    finally:
        app.close()


def test_parking_switched_off_while_parked_still_leaves_on_the_ignition(tmp_path):
    app = parked(tmp_path)
    try:
        ctl = app.controller
        ctl.apply_config(dataclasses.replace(app.config, parking=False))
        assert wait_until(lambda: ctl.config.parking is False, 5)
        assert ctl.state is State.PARKED
        ctl.post(Event.IGNITION_ON)
        assert ctl.wait_for_state(State.RECORDING)
        ctl.post(Event.IGNITION_OFF)  # ignored now: parking is off
        assert not ctl.wait_for_state(State.PARKED, timeout_s=1.5)
    finally:
        app.close()


def test_the_parking_rate_and_motion_settings_apply_while_parked(tmp_path):
    app = scene_app(tmp_path, StillScene(), parking_motion=False, parking_fps=5)
    try:
        ctl, camera = app.controller, app.camera
        assert wait_until(lambda: camera.video_rate == (5, 200_000), 5)
        assert ctl._motion is None and camera.motion_frames == 0
        ctl.apply_config(
            dataclasses.replace(
                ctl.config, parking_motion=True, parking_fps=2, parking_motion_sensitivity=0.9
            )
        )
        assert wait_until(lambda: camera.video_rate == (2, 200_000), 5)
        assert wait_until(lambda: ctl._motion is not None and ctl._motion.frames > 0, 10)
        assert ctl._motion.detector.sensitivity == 0.9
        ctl.apply_config(dataclasses.replace(ctl.config, parking_motion=False))
        assert wait_until(lambda: ctl._motion is None, 5)
        assert ctl.state is State.PARKED
    finally:
        app.close()
