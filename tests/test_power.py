"""Shutdown paths on mock pins with a fake power-off command, and the service watchdog.

The power-off command is a real subprocess (a small Python program): when called it looks
at the card and writes what it found, so the tests prove the open segment was closed and
decodes *before* the power went. Nothing is ever powered off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.controller import Controller
from appliance.errors import CameraError
from appliance.library import Library
from appliance.states import State
from hw.camera.sim import SimulatedCamera
from hw.panel import Panel
from hw.power import PowerLossMonitor, PowerOff
from hw.watchdog import Watchdog, notify, recorder_health, watchdog_interval_s
from tests.harness import SMALL, wait_until
from tests.test_storage_faults import remove_folder

POWER_LOSS_PIN = 26

#: The fake power-off: records each call with the state of the card at that moment.
CHECKER = """
import glob, json, os, sys
import av
root, report = sys.argv[1], sys.argv[2]
clips = sorted(glob.glob(os.path.join(root, "DCIM", "**", "*.mp4"), recursive=True))
frames = {}
for clip in clips:
    with av.open(clip) as container:
        frames[os.path.basename(clip)] = sum(1 for _ in container.decode(video=0))
partials = glob.glob(os.path.join(root, "DCIM", "**", "*.partial"), recursive=True)
with open(report, "a") as fh:
    fh.write(json.dumps({"frames": frames, "partials": partials}) + "\\n")
"""


class Rig:
    """Controller, panel and power-loss input on mock pins, a simulated camera, and the
    fake power-off command."""

    def __init__(self, root: Path, **overrides) -> None:
        values = {
            **SMALL,
            "storage_root": str(root / "card"),
            "segment_seconds": 60.0,
            "hold_time_s": 0.5,
            "power_loss_pin": POWER_LOSS_PIN,
            "power_loss_grace_s": 0.4,
            **overrides,
        }
        self.config = cfg = Config(**values)
        Path(cfg.storage_root).mkdir(parents=True, exist_ok=True)
        checker = root / "fake_poweroff.py"
        checker.write_text(CHECKER)
        self.report = root / "poweroff.jsonl"
        self.power_off = PowerOff(
            [sys.executable, str(checker), cfg.storage_root, str(self.report)]
        )
        self.camera = SimulatedCamera(
            width=cfg.video_width,
            height=cfg.video_height,
            fps=cfg.video_fps,
            bitrate=cfg.video_bitrate,
        )
        self.controller = Controller(
            cfg, self.camera, Library(cfg.storage_root), power_off=self.power_off
        )
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.panel = Panel(cfg, self.controller.post, pin_factory=self.factory)
        self.monitor = PowerLossMonitor(
            cfg.power_loss_pin,
            self.controller.post,
            pin_factory=self.factory,
            grace_s=cfg.power_loss_grace_s,
        )
        self.loss_pin = self.factory.pin(POWER_LOSS_PIN)

    def start_recording(self) -> None:
        self.controller.start()
        assert self.controller.wait_for_state(State.RECORDING, timeout_s=5)
        # a segment is open and has frames in it
        assert wait_until(lambda: self.controller.recorder.status.frames_written >= 20, 10)

    def calls(self) -> list[dict]:
        if not self.report.exists():
            return []
        return [json.loads(line) for line in self.report.read_text().splitlines()]

    def close(self) -> None:
        self.monitor.close()
        self.panel.close()
        if not self.controller.stopped.is_set():
            self.controller.shutdown()
        self.camera.stop()


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.close()


def assert_closed_and_decodable_at_power_off(rig: Rig) -> None:
    assert rig.controller.stopped.wait(10), "the controller did not finish"
    assert rig.controller.state is State.OFF
    (call,) = rig.calls()  # the command ran once, to its end
    assert call["partials"] == [], "a segment was still open when the power went"
    assert call["frames"], "no closed segment on the card"
    assert min(call["frames"].values()) >= 20, call["frames"]
    written = rig.controller.recorder.status.frames_written
    assert sum(call["frames"].values()) == written, (call["frames"], written)


def test_holding_record_powers_off_after_closing_the_segment(rig):
    rig.start_recording()
    rig.panel.record.pin.drive_low()
    assert rig.controller.wait_for_state(State.SHUTTING_DOWN, State.OFF, timeout_s=5)
    rig.panel.record.pin.drive_high()
    assert_closed_and_decodable_at_power_off(rig)


def test_power_loss_input_powers_off_after_the_grace_time(rig):
    rig.start_recording()
    rig.loss_pin.drive_low()  # the UPS pulls the line to GND: external power gone
    assert rig.monitor.input.is_active
    assert rig.controller.wait_for_state(State.SHUTTING_DOWN, State.OFF, timeout_s=5)
    assert_closed_and_decodable_at_power_off(rig)
    assert rig.monitor.posted


def test_dashboard_shutdown_powers_off(rig):
    rig.start_recording()
    rig.controller.shutdown()  # what the dashboard's shutdown endpoint calls
    assert_closed_and_decodable_at_power_off(rig)


def test_a_short_power_blip_cancels_the_shutdown(rig, caplog):
    rig.start_recording()
    with caplog.at_level(logging.WARNING, logger="hw.power"):
        rig.loss_pin.drive_low()
        rig.loss_pin.drive_high()  # back well within the 0.4 s grace
        assert wait_until(lambda: "shutdown cancelled" in caplog.text, 5)
    # past the grace time nothing happened: still recording, no power-off
    assert not wait_until(lambda: rig.controller.state is not State.RECORDING, 1.0)
    assert rig.calls() == []
    assert not rig.monitor.posted
    # a real loss afterwards still shuts down
    rig.loss_pin.drive_low()
    assert_closed_and_decodable_at_power_off(rig)


def test_active_high_power_loss_input():
    factory = MockFactory(pin_class=MockPWMPin)
    posted = threading.Event()
    monitor = PowerLossMonitor(
        POWER_LOSS_PIN, lambda e: posted.set(), pin_factory=factory, grace_s=0.05, active_low=False
    )
    try:
        assert not monitor.input.is_active
        factory.pin(POWER_LOSS_PIN).drive_high()
        assert monitor.input.is_active
        assert posted.wait(5)
    finally:
        monitor.close()


def test_power_off_runs_an_argument_list_after_sync():
    order = []

    def run(command, **kw):
        order.append(("run", command))
        return type("Done", (), {"returncode": 0})()

    action = PowerOff(
        ["systemctl", "poweroff; rm -rf /"], run=run, sync=lambda: order.append("sync")
    )
    action()
    assert order == ["sync", ("run", ["systemctl", "poweroff; rm -rf /"])]
    with pytest.raises(ValueError):
        PowerOff([])
    with pytest.raises(ValueError):
        PowerOff(["systemctl", ""])
    with pytest.raises(ValueError):
        PowerOff("systemctl poweroff")  # a string is not an argument list


# -- the service watchdog ----------------------------------------------------------------


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def receive(sock: socket.socket, want: str, timeout_s: float = 5) -> list[str]:
    got = []
    sock.settimeout(timeout_s)
    while want not in got:
        got.append(sock.recv(4096).decode())
    return got


def test_notify_speaks_the_sd_notify_datagram(notify_socket):
    path, sock = notify_socket
    assert notify("READY=1\nSTATUS=hello", path)
    assert sock.recv(4096) == b"READY=1\nSTATUS=hello"
    assert not notify("WATCHDOG=1", "")  # not started by systemd: nothing to do
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({}) is None


def test_watchdog_pings_from_the_controller_loop(tmp_path, notify_socket):
    path, sock = notify_socket
    config = Config(**{**SMALL, "storage_root": str(tmp_path)})
    camera = SimulatedCamera(width=320, height=240, fps=30, bitrate=400_000)
    watchdog = Watchdog(socket_path=path, interval_s=0.05)
    controller = Controller(config, camera, Library(str(tmp_path)), on_tick=watchdog.tick)
    watchdog.health = recorder_health(controller, stall_s=5)
    controller.start()
    try:
        pings = receive(sock, "WATCHDOG=1")
        pings = receive(sock, "WATCHDOG=1") + pings  # two pings: the loop keeps pinging
        assert pings.count("WATCHDOG=1") >= 2 and watchdog.problem is None
    finally:
        controller.shutdown()
        camera.stop()


class WedgedCamera(SimulatedCamera):
    """A camera that goes on running but whose packets stop arriving, reporting nothing."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.wedged = threading.Event()

    def start(self, on_packet, on_error=None) -> None:
        super().start(lambda p: None if self.wedged.is_set() else on_packet(p), on_error)


def test_a_hung_recording_stops_the_watchdog_pings(tmp_path, notify_socket):
    path, sock = notify_socket
    config = Config(**{**SMALL, "storage_root": str(tmp_path)})
    camera = WedgedCamera(width=320, height=240, fps=30, bitrate=400_000)
    watchdog = Watchdog(socket_path=path, interval_s=0.05)
    controller = Controller(config, camera, Library(str(tmp_path)), on_tick=watchdog.tick)
    watchdog.health = recorder_health(controller, stall_s=0.5)
    controller.start()
    try:
        assert controller.wait_for_state(State.RECORDING)
        receive(sock, "WATCHDOG=1")
        camera.wedged.set()
        messages: list[str] = []
        assert wait_until(lambda: watchdog.problem is not None, 5)
        assert "recorder stalled" in watchdog.problem
        # drain what was sent before the stall was seen, then: no pings any more
        sock.settimeout(0.05)
        try:
            while True:
                messages.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        assert any(m.startswith("STATUS=recorder stalled") for m in messages), messages
        sock.settimeout(1.0)  # no more pings
        with pytest.raises(TimeoutError):
            sock.recv(4096)
    finally:
        controller.shutdown()
        camera.stop()


def no_more_pings(sock: socket.socket) -> list[str]:
    """Drain what was sent before; then nothing more comes for a second. Returns the drained."""
    messages: list[str] = []
    sock.settimeout(0.05)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        pass
    sock.settimeout(1.0)
    with pytest.raises(TimeoutError):
        sock.recv(4096)
    return messages


class UnpluggedCamera(SimulatedCamera):
    """A camera that cannot be opened until :attr:`plugged` is set (picamera2 raises
    IndexError for a camera number it does not list)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.plugged = threading.Event()

    def start(self, on_packet, on_error=None) -> None:
        if not self.plugged.is_set():
            raise CameraError("no camera 0: list index out of range")
        super().start(on_packet, on_error)


class SilentSensorCamera(SimulatedCamera):
    """Opens every time but no frame reaches the sink; reports that 0.2 s after each start,
    as the Picamera2 backend's frame watch does."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.starts = 0
        self._watch: threading.Timer | None = None

    def start(self, on_packet, on_error=None) -> None:
        super().start(lambda packet: None, on_error)
        self.starts += 1
        self._watch = threading.Timer(0.2, on_error, (CameraError("no frame after start"),))
        self._watch.start()

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        super().stop()


CAMERA = {"width": 320, "height": 240, "fps": 30, "bitrate": 400_000}


def test_a_camera_that_no_retry_brings_back_stops_the_watchdog_pings(tmp_path, notify_socket):
    path, sock = notify_socket
    config = Config(**{**SMALL, "storage_root": str(tmp_path)})
    camera = UnpluggedCamera(**CAMERA)
    watchdog = Watchdog(socket_path=path, interval_s=0.05)
    controller = Controller(
        config, camera, Library(str(tmp_path)), on_tick=watchdog.tick, retry_interval_s=0.1
    )
    watchdog.health = recorder_health(controller, camera_down_s=2.0)
    controller.start()
    try:
        assert controller.wait_for_state(State.ERROR)
        receive(sock, "WATCHDOG=1")  # a retry may still bring it back: pings go on
        assert wait_until(lambda: watchdog.problem is not None, 10)
        assert watchdog.problem.startswith("camera failed"), watchdog.problem
        assert controller.state is State.ERROR
        drained = no_more_pings(sock)
        assert any(m.startswith("STATUS=camera failed") for m in drained), drained
        camera.plugged.set()  # a retry opens it and frames come: healthy again
        assert controller.wait_for_state(State.RECORDING, timeout_s=5)
        receive(sock, "WATCHDOG=1")
        assert watchdog.problem is None and controller.camera_down_s == 0
    finally:
        controller.shutdown()
        camera.stop()


def test_a_camera_that_reopens_without_a_frame_stays_down(tmp_path):
    """Each retry opens it and READY starts the recording, but no frame ever comes: the
    count goes on through the short RECORDING between two failures."""
    config = Config(**{**SMALL, "storage_root": str(tmp_path)})
    camera = SilentSensorCamera(**CAMERA)
    controller = Controller(config, camera, Library(str(tmp_path)), retry_interval_s=0.1)
    health = recorder_health(controller, camera_down_s=1.5)
    controller.start()
    try:
        assert wait_until(lambda: camera.starts >= 3, 10), "the retries never reopened it"
        assert wait_until(lambda: health() is not None, 10)
        assert health().startswith("camera failed")
    finally:
        controller.shutdown()
        camera.stop()


def test_a_card_fault_that_lasts_never_stops_the_watchdog_pings(tmp_path, notify_socket):
    """The card pulled: ERROR for four times the camera's limit, pinging all along (a new
    process would find no card either); the card back, recording resumes by itself."""
    path, sock = notify_socket
    root = tmp_path / "card"
    root.mkdir()
    config = Config(**{**SMALL, "storage_root": str(root)})
    camera = SimulatedCamera(**CAMERA)
    watchdog = Watchdog(socket_path=path, interval_s=0.05)
    controller = Controller(
        config, camera, Library(str(root)), on_tick=watchdog.tick, retry_interval_s=0.1
    )
    limit_s = 0.5
    watchdog.health = recorder_health(controller, stall_s=limit_s, camera_down_s=limit_s)
    controller.start()
    try:
        assert controller.wait_for_state(State.RECORDING)
        assert wait_until(lambda: controller.recorder.status.frames_written > 5, 10)
        remove_folder(root)
        assert controller.wait_for_state(State.ERROR, timeout_s=10)
        problems: list[str] = []
        entered = time.monotonic()

        def four_limits_in_error() -> bool:
            if watchdog.problem is not None:
                problems.append(watchdog.problem)
            return time.monotonic() - entered > 4 * limit_s

        assert wait_until(four_limits_in_error, 10)
        assert problems == [] and controller.state is State.ERROR
        assert "storage" in (controller.status.last_error or "")
        sock.settimeout(0.05)  # what came so far ...
        with contextlib.suppress(TimeoutError):
            while True:
                sock.recv(4096)
        assert "WATCHDOG=1" in receive(sock, "WATCHDOG=1", timeout_s=2)  # ... and more
        root.mkdir()  # the card is back
        assert controller.wait_for_state(State.RECORDING, timeout_s=10)
    finally:
        controller.shutdown()
        camera.stop()
