"""Boot to recording: the first segment opens before the dashboard is imported, and the
buttons come after the recording without being able to stop it.

How fast is measured in tests/bench/recorder.py (``import_to_record_s``); the unit's
ordering (no network dependency) in tests/test_install.py.
"""

from __future__ import annotations

import logging
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.ports import real_disk_usage
from appliance.states import State
from hw.app import start_panel
from hw.camera.sim import SimulatedCamera
from tests.harness import Appliance, wait_until

ROOT = Path(__file__).resolve().parent.parent
WEB_MODULES = re.compile(r"^import time:.*\|\s+(web|falcon|waitress)(\.\S+)?\s*$")
OPENED = "segment 00000001 opened"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_until(tmp_path: Path, until: str, *extra: str, timeout_s: float = 60) -> list[str]:
    """``dashcam run --sim`` under ``-X importtime`` until ``until`` is logged: its stderr.

    Import times and log lines go to the same stream in the order they happen; an import
    time line is written when that module's import ends.
    """
    config = tmp_path / "dashcam.toml"
    config.write_text(
        "min_free_bytes = 0\nmin_free_percent = 0.0\n"
        f'web_host = "127.0.0.1"\nweb_port = {free_port()}\n'
    )
    child = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "hw.cli", "run", "--sim"]
        + ["--config", str(config), "--storage", str(tmp_path / "card"), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    buffer = b""
    deadline = time.monotonic() + timeout_s
    try:
        while until.encode() not in buffer and time.monotonic() < deadline:
            ready, _, _ = select.select([child.stderr], [], [], 0.5)
            if ready:
                chunk = child.stderr.read1(65536)
                if not chunk:
                    break
                buffer += chunk
    finally:
        child.send_signal(signal.SIGTERM)
        _, rest = child.communicate(timeout=30)
    lines = (buffer + rest).decode(errors="replace").splitlines()
    assert child.returncode == 0, "\n".join(lines[-20:])
    assert any(until in line for line in lines), f"{until!r} never logged"
    return lines


def first(lines: list[str], predicate) -> int:
    return next(i for i, line in enumerate(lines) if predicate(line))


def test_the_first_segment_opens_before_the_web_is_imported(tmp_path):
    lines = run_until(tmp_path, "dashcam: dashboard: http://")
    opened = first(lines, lambda line: OPENED in line)
    web = [i for i, line in enumerate(lines) if WEB_MODULES.match(line)]
    assert web, "the web was never imported: the check would prove nothing"
    assert opened < web[0], (
        f"a web module finished importing (line {web[0]}: {lines[web[0]].strip()}) before "
        f"the first segment opened (line {opened})"
    )
    # An import line is written when a module's import ends; the log line marks its start.
    importing = first(lines, lambda line: "importing the dashboard" in line)
    assert opened < importing < web[0]


def test_no_web_module_is_imported_with_no_web(tmp_path):
    lines = run_until(tmp_path, OPENED, "--no-web")
    assert not [line for line in lines if WEB_MODULES.match(line)]


def test_the_buttons_are_claimed_after_the_recording_starts(tmp_path):
    """gpiozero (the pins) is imported after the first segment opened."""
    lines = run_until(tmp_path, "dashcam: storage:", "--no-web")
    opened = first(lines, lambda line: OPENED in line)
    gpiozero = first(lines, lambda line: re.search(r"\|\s+gpiozero\s*$", line) is not None)
    assert opened < gpiozero, lines[gpiozero]


class NoGpio:
    """A pin factory that fails as lgpio does off a Pi or without the gpio group."""

    def __init__(self, simulated: bool) -> None:
        raise OSError("can not open gpiochip")


def test_pins_that_cannot_be_claimed_do_not_stop_the_recording(tmp_path, caplog):
    with Appliance(tmp_path / "card", segment_seconds=60.0) as app:
        ctl = app.controller
        assert ctl.wait_for_state(State.RECORDING)
        with caplog.at_level(logging.ERROR, logger="dashcam"):
            panel, power_loss, _ = start_panel(
                app.config, ctl, simulated=False, make_factory=NoGpio
            )
        assert panel is None and power_loss is None
        assert "the pins cannot be claimed (OSError: can not open gpiochip)" in caplog.text
        assert "recording goes on without buttons and LED" in caplog.text
        frames = ctl.recorder.status.frames_written
        assert wait_until(lambda: ctl.recorder.status.frames_written > frames + 10, 10)
        assert ctl.state is State.RECORDING


class PowerLossPinMissing(MockFactory):
    """Mock pins where the UPS's power-loss pin cannot be claimed."""

    def __init__(self, bad_pin: int) -> None:
        super().__init__(pin_class=MockPWMPin)
        self.bad_pin = bad_pin

    def pin(self, spec, **kw):
        if spec == self.bad_pin:
            raise OSError(f"GPIO{spec} busy")
        return super().pin(spec, **kw)


def test_a_power_loss_pin_that_fails_leaves_the_buttons(tmp_path, caplog):
    with Appliance(tmp_path / "card", power_loss_pin=26, segment_seconds=60.0) as app:
        assert app.controller.wait_for_state(State.RECORDING)
        with caplog.at_level(logging.ERROR, logger="dashcam"):
            panel, power_loss, _ = start_panel(
                app.config, app.controller, False, lambda simulated: PowerLossPinMissing(26)
            )
        try:
            assert panel is not None and power_loss is None
            assert "without the power-loss input" in caplog.text
            # The LED follows the controller: lit while recording.
            assert wait_until(lambda: panel.led.value > 0, 5)
        finally:
            panel.close()


@pytest.mark.parametrize("autostart", [True, False])
def test_mock_pins_give_a_working_panel(tmp_path, autostart):
    with Appliance(tmp_path / "card", autostart=autostart) as app:
        wanted = State.RECORDING if autostart else State.IDLE
        assert app.controller.wait_for_state(wanted)
        factory = MockFactory(pin_class=MockPWMPin)
        panel, power_loss, _ = start_panel(app.config, app.controller, True, lambda s: factory)
        try:
            assert power_loss is None and panel is not None
            record = factory.pin(app.config.record_pin)
            record.drive_low()
            wait_until(lambda: False, 0.1)  # past the debounce window
            record.drive_high()
            other = State.IDLE if autostart else State.RECORDING
            assert app.controller.wait_for_state(other, timeout_s=5)
        finally:
            panel.close()


class MarksItsFirstPacket(SimulatedCamera):
    """The simulated camera; :attr:`delivered` is set once its first packet is handed on."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.delivered = threading.Event()

    def start(self, on_packet, on_error=None) -> None:
        def sink(packet) -> None:
            on_packet(packet)
            self.delivered.set()

        super().start(sink, on_error)


class SlowScan:
    """The card's disk usage; once armed, its next call (the scan's last step) waits for
    the camera's first packet, at most 5 s: a scan of a full card takes that long on a Pi."""

    def __init__(self, camera: MarksItsFirstPacket) -> None:
        self.camera = camera
        self.armed = False
        self.overlapped: bool | None = None

    def __call__(self, path: str):
        if self.armed:
            self.armed = False
            self.overlapped = self.camera.delivered.wait(5)
        return real_disk_usage(path)


def test_the_camera_opens_while_the_card_is_scanned(tmp_path):
    """The camera delivers before the scan ends, yet the first segment's number follows
    every clip on the card and the left-over partial is recovered."""
    root = tmp_path / "card"
    with Appliance(root) as earlier:  # a card with clips, then a power cut's partial
        earlier.wait_segments(2)
    last = max(root.rglob("*.mp4"))  # names start with the sequence number
    partial_seq = int(last.name[:8]) + 1
    partial = last.with_name(f"{partial_seq:08d}{last.name[8:]}.partial")
    partial.write_bytes(last.read_bytes())  # what a SIGKILL leaves: all of it

    camera = MarksItsFirstPacket(width=320, height=240, fps=30, bitrate=400_000)
    scan = SlowScan(camera)
    app = Appliance(root, camera=camera, disk_usage=scan, segment_seconds=60.0)
    scan.armed = True
    with app:
        ctl = app.controller
        assert scan.overlapped, "the camera opened only after the card was scanned"
        assert wait_until(lambda: ctl.status.segment_seq is not None, 10)
        assert ctl.status.segment_seq > partial_seq
        assert wait_until(lambda: not partial.exists(), 10), "the partial was not recovered"
        assert app.library.get(partial_seq).path == str(partial.with_suffix(""))


#: What ``dashcam run`` imports before recording starts, on the Pi and in simulation.
BEFORE_RECORDING = [
    "hw.cli",
    "hw.app",
    "appliance.config",
    "appliance.controller",
    "appliance.library",
    "hw.camera.picamera2",
    "hw.camera.sim",
    "hw.power",
    "hw.watchdog",
]


def test_nothing_before_recording_imports_the_pins_the_web_or_tomlkit():
    """On the Pi path too (the Picamera2 backend, the power-off action): lazy imports."""
    code = (
        f"import sys, {', '.join(BEFORE_RECORDING)}\n"
        "late = ('gpiozero', 'lgpio', 'web', 'falcon', 'waitress', 'tomlkit')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in late)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
