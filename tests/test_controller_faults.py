"""The controller cannot die: a failure injected at a boundary under every action (a camera
backend whose methods raise, a disk-usage function that raises, a file system that fails),
in a status subscriber, in the heartbeat and in the snapshot build is reported, leads to
ERROR where that fits, and the controller goes on: it answers status, takes a photo once
the fault is gone and reaches OFF on shutdown."""

import errno
import threading

import pytest

from appliance.ports import Camera, DiskUsage, FileSystem
from appliance.states import Action, Event, State
from hw.camera.sim import SimulatedCamera
from hw.panel import STATE_PATTERNS
from tests.harness import Appliance, wait_until

GIB = 1024**3
RETRY_S = 0.3


class Boom(RuntimeError):
    """An injected failure."""


class FaultyCamera(Camera):
    """The simulated camera, whose methods raise while their name is in ``failing``."""

    def __init__(self):
        self.inner = SimulatedCamera(width=320, height=240, fps=30, bitrate=400_000)
        self.failing: set[str] = set()
        self.raised: list[str] = []

    def _check(self, name):
        if name in self.failing:
            self.raised.append(name)
            raise Boom(f"injected: camera.{name}")

    @property
    def info(self):
        self._check("info")
        return self.inner.info

    def start(self, on_packet, on_error=None):
        self._check("start")
        self.inner.start(on_packet, on_error)

    def stop(self):
        self._check("stop")
        self.inner.stop()

    def request_keyframe(self):
        self._check("request_keyframe")
        self.inner.request_keyframe()

    def capture_still(self, timeout_s=5.0):
        self._check("capture_still")
        return self.inner.capture_still(timeout_s)

    def set_preview_sink(self, sink):
        self.inner.set_preview_sink(sink)

    def set_video_rate(self, fps, bitrate):
        self._check("set_video_rate")
        return self.inner.set_video_rate(fps, bitrate)

    def set_motion_sink(self, sink, fps=5.0):
        self._check("set_motion_sink")
        return self.inner.set_motion_sink(sink, fps)


class FailingFS(FileSystem):
    """A card whose sync, rename or mkdir fail with ``error`` while named in ``failing``."""

    def __init__(self):
        self.failing: set[str] = set()
        self.error = errno.EIO
        self.raised: list[str] = []

    def _check(self, name):
        if name in self.failing:
            self.raised.append(name)
            raise OSError(self.error, f"injected: {name} failed")

    def sync(self, fd):
        self._check("sync")
        super().sync(fd)

    def rename(self, src, dst):
        self._check("rename")
        super().rename(src, dst)

    def mkdir(self, path):
        self._check("mkdir")
        super().mkdir(path)


class Disk:
    """Disk usage that can say "full" or raise."""

    def __init__(self):
        self.full = False
        self.broken = False

    def __call__(self, path):
        if self.broken:
            raise OSError(errno.EIO, "injected: statvfs failed")
        return DiskUsage(GIB, 0 if self.full else GIB // 2)


#: Parking on (no test posts IGNITION_OFF but the parking ones), short pre- and post-roll.
PARKING = {
    "parking": True,
    "parking_preroll_s": 1.0,
    "parking_postroll_s": 1.0,
    "parking_motion": False,  # the test picture's box always moves
}


class Rig:
    def __init__(self, tmp_path, **overrides):
        self.camera = FaultyCamera()
        self.fs = FailingFS()
        self.disk = Disk()
        self.app = Appliance(
            tmp_path / "card",
            camera=self.camera,
            fs=self.fs,
            disk_usage=self.disk,
            retry_interval_s=RETRY_S,
            min_free_bytes=1024**2,
            **{**PARKING, **overrides},
        )
        self.ctl = self.app.controller
        self.states: list[State] = []
        self.ctl.subscribe(lambda s: self.states.append(s.state))

    def recording(self):
        return self.ctl.state is State.RECORDING and self.ctl.status.recording

    def answers_status(self):
        """A fresh snapshot comes when asked for (the thread lives and publishes)."""
        version = self.ctl.status.version
        self.ctl.refresh()
        return self.ctl.wait_for_change(version, 5).version > version

    def takes_a_photo(self):
        before = self.ctl.status.counts.get("photo", 0)
        self.ctl.post(Event.PHOTO_PRESSED)
        return wait_until(lambda: self.ctl.status.counts.get("photo", 0) == before + 1, 10)

    def shuts_down(self):
        self.ctl.shutdown(timeout_s=10)
        return self.ctl.stopped.is_set() and self.ctl.state is State.OFF

    def close(self):
        self.camera.failing.clear()
        self.fs.failing.clear()
        self.app.close()


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.close()


def went_to_error(rig):
    assert wait_until(lambda: State.ERROR in rig.states, 10), rig.states
    assert rig.ctl.status.last_error


def start_recording(rig):
    rig.app.start()
    assert wait_until(rig.recording, 10)


# One injection per action of the state machine; each leaves the fault in place until
# the test has seen its effect, then heals it.


def fail_start_recording(rig):
    rig.camera.failing.add("request_keyframe")
    rig.app.start()
    went_to_error(rig)
    assert "request_keyframe" in rig.camera.raised
    rig.camera.failing.clear()
    assert wait_until(rig.recording, 10)  # the retry resumes the wished-for recording


def fail_stop_recording(rig):
    start_recording(rig)
    rig.fs.failing.add("sync")  # the segment's last fragment cannot be made durable
    rig.ctl.post(Event.STOP_RECORDING)
    went_to_error(rig)
    assert rig.answers_status()
    rig.fs.failing.clear()
    assert rig.ctl.wait_for_state(State.IDLE, timeout_s=10)
    assert not rig.ctl.status.recording


def fail_pause_recording(rig):
    start_recording(rig)
    rig.fs.failing.add("sync")
    rig.disk.full = True  # the pruner finds nothing to delete: STORAGE_FULL pauses
    rig.ctl.post(Event.STORAGE_FULL)
    went_to_error(rig)
    rig.fs.failing.clear()
    rig.disk.full = False
    assert wait_until(rig.recording, 10)


def fail_take_photo(rig):
    start_recording(rig)
    rig.camera.failing.add("capture_still")
    rig.ctl.post(Event.PHOTO_PRESSED)
    assert wait_until(lambda: "capture_still" in rig.camera.raised, 10)
    assert wait_until(lambda: "photo failed" in (rig.ctl.status.last_error or ""), 5)
    assert State.ERROR not in rig.states  # a failed still never stops the recording
    assert wait_until(rig.recording, 5)
    rig.camera.failing.clear()
    # A photo whose file cannot be synced: the card is failing, so ERROR, then back.
    rig.fs.failing.add("sync")
    rig.ctl.post(Event.PHOTO_PRESSED)
    went_to_error(rig)
    rig.fs.failing.clear()
    assert wait_until(rig.recording, 10)


def fail_protect(rig):
    start_recording(rig)
    rig.app.wait_segments(2)
    rig.fs.failing.add("rename")  # moving the clip into PROTECTED fails
    rig.ctl.post(Event.PROTECT_PRESSED)
    went_to_error(rig)
    assert "rename" in rig.fs.raised
    rig.fs.failing.clear()
    assert wait_until(rig.recording, 10)
    rig.ctl.post(Event.PROTECT_PRESSED)
    assert wait_until(lambda: rig.ctl.status.counts.get("protected", 0) >= 1, 10)


def fail_shut_down(rig):
    start_recording(rig)
    rig.camera.failing.add("stop")
    rig.fs.failing.add("sync")
    rig.ctl.post(Event.SHUTDOWN)
    assert rig.ctl.stopped.wait(10)
    assert rig.ctl.state is State.OFF
    assert "stop" in rig.camera.raised


def fail_none(rig):
    # READY's action is NONE: a subscriber that raises on every snapshot, and a disk-usage
    # function that raises while the snapshot is built.
    seen = []

    def bad_subscriber(status):
        seen.append(status.version)
        raise Boom("injected: subscriber")

    rig.ctl.subscribe(bad_subscriber)
    rig.disk.broken = True
    rig.app.start()
    went_to_error(rig)  # the card's file system does not answer: STORAGE_FAILED
    assert rig.answers_status()
    assert len(seen) >= 2
    rig.disk.broken = False
    assert wait_until(rig.recording, 10)


def park(rig):
    start_recording(rig)
    rig.ctl.post(Event.IGNITION_OFF)
    assert rig.ctl.wait_for_state(State.PARKED)


def parked_again(rig):
    """The ignition is still off: after the retry the appliance parks again."""
    assert rig.ctl.wait_for_state(State.PARKED, timeout_s=10), rig.states


def fail_enter_parking(rig):
    start_recording(rig)
    rig.camera.failing.add("set_video_rate")  # the camera refuses the parking rate
    rig.ctl.post(Event.IGNITION_OFF)
    went_to_error(rig)
    assert "set_video_rate" in rig.camera.raised
    rig.camera.failing.clear()
    parked_again(rig)


def fail_parking_clip(rig):
    park(rig)
    rig.fs.failing.add("sync")  # the parking clip's first fragment cannot be made durable
    rig.ctl.post(Event.PARKING_TRIGGER)
    went_to_error(rig)
    assert "sync" in rig.fs.raised
    rig.fs.failing.clear()
    parked_again(rig)


def fail_parking_clip_end(rig):
    park(rig)
    rig.ctl.post(Event.PARKING_TRIGGER)
    assert wait_until(lambda: rig.ctl.status.recording, 10)
    rig.fs.failing.add("rename")  # neither the clip's close nor its protection can rename
    assert wait_until(lambda: "rename" in rig.fs.raised, 10)  # at the post-roll's end
    went_to_error(rig)
    rig.fs.failing.clear()
    parked_again(rig)


def fail_leave_parking(rig):
    park(rig)
    rig.ctl.post(Event.PARKING_TRIGGER)
    assert wait_until(lambda: rig.ctl.status.recording, 10)
    rig.fs.failing.add("rename")  # the clip cannot be moved into PROTECTED
    rig.ctl.post(Event.IGNITION_ON)
    went_to_error(rig)
    assert "rename" in rig.fs.raised
    rig.fs.failing.clear()
    assert wait_until(rig.recording, 10)  # the ignition is on: loop recording again


INJECTIONS = {
    Action.NONE: fail_none,
    Action.START_RECORDING: fail_start_recording,
    Action.STOP_RECORDING: fail_stop_recording,
    Action.PAUSE_RECORDING: fail_pause_recording,
    Action.TAKE_PHOTO: fail_take_photo,
    Action.PROTECT: fail_protect,
    Action.SHUT_DOWN: fail_shut_down,
    Action.ENTER_PARKING: fail_enter_parking,
    Action.PARKING_CLIP: fail_parking_clip,
    Action.PARKING_CLIP_END: fail_parking_clip_end,
    Action.LEAVE_PARKING: fail_leave_parking,
}


def test_every_action_has_an_injection():
    assert set(INJECTIONS) | {Action.FINISH} == set(Action)


@pytest.mark.parametrize("action", list(INJECTIONS), ids=str)
def test_a_failure_under_an_action_leaves_the_controller_working(rig, action):
    INJECTIONS[action](rig)
    if action is Action.SHUT_DOWN:
        return
    assert rig.answers_status()
    assert rig.takes_a_photo()
    assert wait_until(lambda: rig.app.panel.led_pattern is STATE_PATTERNS[rig.ctl.state], 5)
    assert rig.shuts_down()


def test_a_power_off_that_raises_still_ends_the_controller(tmp_path):
    """FINISH's action is the power-off: it raises, and the controller still ends."""
    calls = []

    def power_off(request):
        calls.append(request)
        raise Boom("injected: power_off")

    rig = Rig(tmp_path, power_off=power_off)
    try:
        start_recording(rig)
        rig.ctl.post(Event.SHUTDOWN)
        assert rig.ctl.stopped.wait(10)
        assert calls and rig.ctl.state is State.OFF
    finally:
        rig.close()


def test_a_heartbeat_that_raises_does_not_stop_the_controller(tmp_path):
    beats = []

    def on_tick():
        beats.append(1)
        raise Boom("injected: heartbeat")

    rig = Rig(tmp_path, on_tick=on_tick)
    try:
        start_recording(rig)
        assert wait_until(lambda: len(beats) >= 3, 10)
        assert wait_until(rig.recording, 5)
        assert rig.answers_status()
        assert rig.takes_a_photo()
        assert rig.shuts_down()
    finally:
        rig.close()


def test_a_camera_info_that_raises_keeps_the_last_description(rig):
    start_recording(rig)
    info = rig.ctl.status.camera
    rig.camera.failing.add("info")
    assert rig.answers_status()
    assert rig.ctl.status.camera == info
    assert wait_until(rig.recording, 5)
    rig.camera.failing.clear()
    assert rig.takes_a_photo()


def test_the_error_path_itself_cannot_raise(rig):
    """A fault whose report fails too (every snapshot fails) leaves the thread alive."""
    start_recording(rig)
    rig.disk.broken = True
    rig.camera.failing.add("info")
    rig.ctl.post(Event.FAULT, Boom("injected"))
    went_to_error(rig)
    assert rig.answers_status()
    rig.disk.broken = False
    rig.camera.failing.clear()
    assert wait_until(rig.recording, 10)
    assert rig.shuts_down()


def test_an_event_storm_with_failures_everywhere(rig):
    """Faults on every boundary at once while events pour in from several threads."""
    start_recording(rig)
    stop = threading.Event()
    events = [Event.PHOTO_PRESSED, Event.PROTECT_PRESSED, Event.RECORD_PRESSED]

    def press():
        i = 0
        while not stop.is_set():
            rig.ctl.post(events[i % len(events)])
            i += 1
            stop.wait(0.01)

    threads = [threading.Thread(target=press) for _ in range(3)]
    for t in threads:
        t.start()
    rig.fs.failing.update({"sync", "rename", "mkdir"})
    rig.camera.failing.update({"capture_still", "request_keyframe"})
    rig.disk.broken = True
    try:
        assert wait_until(lambda: State.ERROR in rig.states, 10)
        assert rig.answers_status()
    finally:
        stop.set()
        for t in threads:
            t.join()
    rig.fs.failing.clear()
    rig.camera.failing.clear()
    rig.disk.broken = False
    assert wait_until(lambda: rig.ctl.state in (State.IDLE, State.RECORDING), 10)
    assert rig.takes_a_photo()
    assert rig.shuts_down()
