"""A whole appliance on simulated hardware, for tests: real recorder, library and files.

Fakes only at the hardware boundary: the simulated camera, gpiozero's mock pins, and,
where a test passes them, a clock and a disk-usage function.
"""

from __future__ import annotations

import glob
import os
import threading
import time

import av
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.controller import Controller
from appliance.library import Library
from appliance.recorder import SegmentInfo
from hw.camera_sim import SimulatedCamera, read_frame_counter
from hw.panel import Panel

SMALL = {
    "video_width": 320,
    "video_height": 240,
    "video_fps": 30,
    "video_bitrate": 400_000,
    "preview_width": 160,
    "preview_height": 120,
    "segment_seconds": 1.0,
    "min_free_bytes": 0,
    "min_free_percent": 0.0,
    "debounce_s": 0.02,
}


def wait_until(predicate, timeout_s: float = 10.0, interval_s: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(interval_s)
    return bool(predicate())


class Appliance:
    """Controller + recorder + library + panel on mock pins, with a simulated camera."""

    def __init__(self, root, *, camera=None, clock=None, disk_usage=None, **overrides):
        os.makedirs(root, exist_ok=True)
        values = {**SMALL, "storage_root": str(root), **overrides}
        self.config = Config(**values)
        cfg = self.config
        self.camera = camera or SimulatedCamera(
            width=cfg.video_width,
            height=cfg.video_height,
            fps=cfg.video_fps,
            bitrate=cfg.video_bitrate,
            preview_width=cfg.preview_width,
            preview_height=cfg.preview_height,
        )
        lib_kw = {"disk_usage": disk_usage} if disk_usage else {}
        self.library = Library(
            cfg.storage_root,
            clock=clock,
            min_free_bytes=cfg.min_free_bytes,
            min_free_percent=cfg.min_free_percent,
            loop_quota_bytes=cfg.loop_quota_bytes,
            protected_quota_percent=cfg.protected_quota_percent,
            **lib_kw,
        )
        self.controller = Controller(cfg, self.camera, self.library, clock=clock)
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.panel = Panel(cfg, self.controller.post, pin_factory=self.factory)
        self.controller.subscribe(self.panel.show)
        self.segments: list[SegmentInfo] = []
        self.controller.on_segment(self.segments.append)

    def start(self) -> Appliance:
        self.controller.start()
        return self

    def close(self) -> None:
        if not self.controller.stopped.is_set():
            self.controller.shutdown()
        self.panel.close()
        self.camera.stop()

    def __enter__(self) -> Appliance:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def led_pin(self):
        return self.factory.pin(self.config.led_pin)

    def press(self, button, hold_s: float = 0.0) -> None:
        """Press a panel button through its mock pin (pull-up: low is pressed)."""
        button.pin.drive_low()
        if hold_s:
            threading.Event().wait(hold_s)
        button.pin.drive_high()

    def wait_segments(self, n: int, timeout_s: float = 30.0) -> list[SegmentInfo]:
        assert wait_until(lambda: len(self.segments) >= n, timeout_s), (
            f"only {len(self.segments)} of {n} segments closed in {timeout_s} s"
        )
        return list(self.segments)


def partials(root) -> list[str]:
    return glob.glob(os.path.join(str(root), "DCIM", "**", "*.partial"), recursive=True)


def decode_counters(path: str) -> list[int]:
    """The burned-in frame counter of every frame that decodes in ``path``."""
    counters = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
    return counters
