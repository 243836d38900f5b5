"""The whole appliance on simulated hardware: buttons, LED, rollover, stills, protection."""

import logging
import os
import threading

import av
import pytest
from PIL import Image

from appliance.library import Kind
from appliance.ports import FileSystem
from appliance.states import Event, State
from hw.panel import NOTICE_PATTERNS, STATE_PATTERNS
from tests.harness import Appliance, decode_counters, partials, wait_until


def led_levels(pin, since_index=0):
    """The LED pin's recorded (level, seconds held) pairs after ``since_index``."""
    states = pin.states[since_index:]
    # states[i].timestamp is the time the previous state was held; the last still holds.
    held = [(states[i].state, states[i + 1].timestamp) for i in range(len(states) - 1)]
    return [*held, (states[-1].state, float("inf"))] if states else held


def assert_pattern_played(pin, pattern, since_index=0, tolerance_s=0.06):
    """The pin went through ``pattern``'s steps (levels and durations) at least once."""
    steps = []
    for level, seconds in pattern.steps:  # the pin shows equal neighbours as one step
        if steps and steps[-1][0] == level:
            steps[-1] = (level, steps[-1][1] + seconds)
        else:
            steps.append((level, seconds))
    # A repeating pattern may be caught at any of its steps.
    rotations = [steps[i:] + steps[:i] for i in range(len(steps))] if pattern.repeat else [steps]
    played = led_levels(pin, since_index)
    for wanted in rotations:
        for start in range(len(played) - len(wanted) + 1):
            window = played[start : start + len(wanted)]
            last = len(wanted) - 1
            if all(
                abs(a[0] - w[0]) < 1e-6
                and (
                    abs(a[1] - w[1]) < tolerance_s
                    # a one-shot flash's last step runs on into the steady light after it
                    or (not pattern.repeat and i == last and a[1] > w[1] - tolerance_s)
                )
                for i, (a, w) in enumerate(zip(window, wanted, strict=True))
            ):
                return
    raise AssertionError(f"pattern {pattern.name!r} not played; pin went through {played}")


def test_record_press_starts_recording_and_the_led_goes_solid(tmp_path):
    with Appliance(tmp_path, autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        assert wait_until(lambda: app.panel.led_pattern is STATE_PATTERNS[State.IDLE])
        pin = app.led_pin
        mark = len(pin.states)
        assert wait_until(lambda: len(pin.states) >= mark + 6, 6)
        assert_pattern_played(pin, STATE_PATTERNS[State.IDLE], mark)

        app.press(app.panel.record)
        assert ctl.wait_for_state(State.RECORDING, timeout_s=5)
        assert wait_until(lambda: ctl.status.recording, 5)
        assert wait_until(lambda: pin.state == 1.0)
        mark = len(pin.states)
        # Solid: the LED stays lit and the pin does not change for a while.
        assert not wait_until(lambda: len(pin.states) > mark, 0.5)
        assert pin.state == 1.0

        app.press(app.panel.record)
        assert ctl.wait_for_state(State.IDLE, timeout_s=5)
        segments = app.wait_segments(1)
        assert segments[-1].frames > 0
        assert not partials(tmp_path)


def test_holding_record_shuts_down_with_the_segment_closed_and_decodable(tmp_path):
    with Appliance(tmp_path, segment_seconds=60.0) as app:
        ctl = app.controller
        assert wait_until(lambda: ctl.status.recording, 10)
        pin = app.panel.record.pin
        pin.drive_low()
        assert ctl.wait_for_state(
            State.SHUTTING_DOWN, State.OFF, timeout_s=app.config.hold_time_s + 3
        )
        pin.drive_high()
        assert ctl.stopped.wait(15)
        assert ctl.state is State.OFF
        assert app.panel.led_pattern is STATE_PATTERNS[State.OFF]
        # Recording went on while the button was held; the segment is closed and whole.
        assert not partials(tmp_path)
        (segment,) = app.segments
        assert segment.duration_s >= app.config.hold_time_s - 0.5
        counters = decode_counters(segment.path)
        assert len(counters) == segment.frames
        assert counters == list(range(counters[0], counters[0] + len(counters)))


def test_ten_rollovers_lose_and_double_no_frame(tmp_path):
    with Appliance(tmp_path) as app:
        segments = app.wait_segments(11, timeout_s=40)
        app.controller.post(Event.STOP_RECORDING)
        assert app.controller.wait_for_state(State.IDLE)
    segments = app.segments
    assert len(segments) >= 11
    expected = segments[0].first_frame_index
    for info in segments:
        counters = decode_counters(info.path)
        # Exactly the camera's frames, in order: no gap, no duplicate, across every switch.
        assert counters == list(range(expected, expected + len(counters))), info.path
        assert len(counters) == info.frames
        assert info.first_frame_index == expected  # as written in the file's metadata
        if info is not segments[-1]:  # the last one ends when recording stops
            assert 0.9 <= info.duration_s <= 1.2
        expected += len(counters)
    assert app.camera.frames_encoded >= expected
    assert app.controller.status.frames_dropped == 0
    # Every closed segment has its thumbnail.
    for info in segments:
        assert wait_until(lambda s=info.seq: app.library.get(s).thumb is not None, 5)


def test_photo_during_recording_gives_a_still_and_thumbnail_without_a_gap(tmp_path):
    with Appliance(tmp_path) as app:
        ctl = app.controller
        app.wait_segments(1)
        pin = app.led_pin
        mark = len(pin.states)
        app.press(app.panel.photo)
        assert wait_until(lambda: ctl.status.last_still is not None, 5)
        photo = app.library.get(ctl.status.last_still)
        assert photo.kind is Kind.PHOTO
        with Image.open(photo.path) as image:
            assert image.size == (app.config.video_width, app.config.video_height)
        with Image.open(photo.thumb) as thumb:
            assert thumb.width <= 320
        assert wait_until(lambda: len(pin.states) >= mark + 4, 3)
        assert_pattern_played(pin, NOTICE_PATTERNS["photo"], mark)
        app.wait_segments(len(app.segments) + 2)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
    first = app.segments[0].first_frame_index
    seen = []
    for info in app.segments:
        seen += decode_counters(info.path)
    assert seen == list(range(first, first + len(seen)))


def test_protect_keeps_the_segment_before_during_and_after(tmp_path):
    with Appliance(tmp_path) as app:
        ctl = app.controller
        app.wait_segments(2)
        before = app.segments[-1].seq
        assert wait_until(lambda: (ctl.status.segment_seq or 0) > before, 5)
        current = ctl.status.segment_seq
        pin = app.led_pin
        mark = len(pin.states)
        app.press(app.panel.protect)
        assert wait_until(lambda: len(pin.states) >= mark + 10, 3)
        assert_pattern_played(pin, NOTICE_PATTERNS["protect"], mark)
        assert wait_until(lambda: any(s.seq > current for s in app.segments), 10)
        nxt = min(s.seq for s in app.segments if s.seq > current)
        app.wait_segments(len(app.segments) + 1)
        ctl.post(Event.STOP_RECORDING)
        assert ctl.wait_for_state(State.IDLE)
    kinds = {s.seq: app.library.get(s.seq).kind for s in app.segments}
    assert kinds[before] is Kind.PROTECTED
    assert kinds[current] is Kind.PROTECTED
    assert kinds[nxt] is Kind.PROTECTED
    later = [s.seq for s in app.segments if s.seq > nxt]
    assert later and all(kinds[s] is Kind.LOOP for s in later)
    for seq in (before, current, nxt):
        item = app.library.get(seq)
        assert os.path.dirname(item.path).endswith("PROTECTED")
        with av.open(item.path) as container:
            assert container.streams.video[0].frames or sum(1 for _ in container.demux()) > 0


def test_camera_failure_shows_error_with_its_led_pattern(tmp_path):
    from hw.camera.sim import SimulatedCamera

    camera = SimulatedCamera(width=320, height=240, fps=30, fail_after_frames=45)
    with Appliance(tmp_path, camera=camera) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.ERROR, timeout_s=10)
        assert "camera" in (ctl.status.last_error or "")
        pin = app.led_pin
        mark = len(pin.states)
        assert wait_until(lambda: len(pin.states) >= mark + 8, 4)
        assert_pattern_played(pin, STATE_PATTERNS[State.ERROR], mark)
        # The segment the failure interrupted is closed and kept.
        assert wait_until(lambda: len(app.segments) >= 1, 5)
        assert not partials(tmp_path)


def test_events_not_in_the_table_are_ignored_and_logged(tmp_path, caplog):
    with Appliance(tmp_path, autostart=False) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        with caplog.at_level(logging.INFO, logger="appliance.controller"):
            version = ctl.status.version
            ctl.post(Event.STORAGE_OK)  # not in the table for IDLE
            ctl.post(Event.PHOTO_PRESSED)  # in the table: proves the first was handled
            assert wait_until(lambda: ctl.status.last_still is not None, 5)
        assert ctl.state is State.IDLE
        assert ctl.status.version > version
        assert any("storage_ok ignored in state idle" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bounces", [3, 6])
def test_a_bouncing_button_counts_once(tmp_path, bounces):
    with Appliance(tmp_path, autostart=False, debounce_s=0.2) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.IDLE)
        button = app.panel.photo
        pin = button.pin
        for _ in range(bounces):  # contact bounce as it closes: several edges within a few ms
            pin.drive_low()
            pin.drive_high()
        pin.drive_low()  # closed: the press counts once the pin has been low for debounce_s
        assert button.wait_for_press(5)
        for _ in range(bounces):  # and as it opens
            pin.drive_high()
            pin.drive_low()
        pin.drive_high()
        assert button.wait_for_release(5)
        assert wait_until(lambda: ctl.status.counts.get("photo", 0) >= 1, 5)
        assert not wait_until(lambda: ctl.status.counts.get("photo", 0) > 1, 1.0)


class _ThumbnailsHang(FileSystem):
    """A card on which the first clip thumbnail's write hangs until released."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def rename(self, src, dst):
        first = not self.entered.is_set()
        if first and os.path.basename(os.path.dirname(dst)) == "THUMB":
            self.entered.set()
            self.release.wait(30)
        super().rename(src, dst)


def test_a_photo_is_taken_while_a_long_job_holds_the_jobs_thread(tmp_path):
    """A still never waits behind a thumbnail, a recovery or a probe of the card."""
    fs = _ThumbnailsHang()
    with Appliance(tmp_path / "card", fs=fs) as app:
        try:
            assert fs.entered.wait(15)  # the first clip's thumbnail holds the jobs thread
            app.press(app.panel.photo)
            assert wait_until(lambda: app.library.counts()[Kind.PHOTO] == 1, 10)
        finally:
            fs.release.set()
