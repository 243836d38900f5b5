"""A whole appliance on simulated hardware, for tests: real recorder, library and files.

Fakes only at the hardware boundary: the simulated camera, gpiozero's mock pins, and,
where a test passes them, a clock, a disk-usage function and a file-system port.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from appliance.config import Config
from appliance.controller import Controller, Status
from appliance.library import Kind, Library
from appliance.live_settings import LiveSettings
from hw.camera.sim import SimulatedCamera, read_frame_counter
from hw.panel import Panel, press
from tests.mp4tools import packet_count, provenance

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


def mount_tmpfs(path, size_bytes: int) -> None:
    """Mount a real tmpfs of ``size_bytes`` at ``path``; skip the test where that is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; this run is not root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {result.stderr.strip()}")


@contextlib.contextmanager
def tmpfs(path, size_bytes: int, *, read_only: bool = False):
    """A real tmpfs at ``path`` (made if missing) for the block; unmounted after it.

    ``read_only`` remounts it read-only: no one can write to it, not even root. Whatever
    the test mounted there again (a card put back) is unmounted too.
    """
    os.makedirs(path, exist_ok=True)
    mount_tmpfs(path, size_bytes)
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield Path(path)
    finally:
        for _ in range(8):
            if not os.path.ismount(path):
                break
            subprocess.run(["umount", "-l", str(path)], check=False)


def wait_until(predicate, timeout_s: float = 10.0, interval_s: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        pause.wait(interval_s)
    return bool(predicate())


@dataclass(frozen=True)
class ClosedSegment:
    """A segment the recorder closed, as the library indexed it when the harness saw it.

    ``first_frame_index`` and ``frames`` are read from the file (at ``path``) when first
    asked for.
    """

    seq: int
    path: str
    size: int
    protected: bool
    duration_s: float | None

    @functools.cached_property
    def first_frame_index(self) -> int:
        """The camera's index of the segment's first frame (written in the file)."""
        found = provenance(self.path)
        assert found is not None, f"{self.path} names no first frame"
        return found[0]

    @functools.cached_property
    def frames(self) -> int:
        """The frames the file holds."""
        return packet_count(self.path)


class Appliance:
    """Controller + recorder + library + panel on mock pins, with a simulated camera."""

    def __init__(
        self,
        root,
        *,
        camera=None,
        clock=None,
        disk_usage=None,
        fs=None,
        retry_interval_s=None,
        power_off=None,
        on_tick=None,
        provenance=True,
        seal_key=None,
        health_source=None,
        **overrides,
    ):
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
        self.settings = LiveSettings(cfg)  # as the App wires it: the parts follow it
        self.library = Library(
            cfg.storage_root, clock=clock, fs=fs, settings=self.settings, **lib_kw
        )
        ctl_kw = {"retry_interval_s": retry_interval_s} if retry_interval_s else {}
        self.sealer = None
        if seal_key is not None:  # as the App wires it: each closed clip is sealed
            from appliance.seal import Sealer

            self.sealer = Sealer(self.library, seal_key)
            ctl_kw["on_clip_closed"] = self.sealer.clip_closed
        self.health = None
        if health_source is not None:  # as the App wires it: the controller starts it
            from appliance.health import WEAR_FILE, HealthWatch

            wear = os.path.join(self.library.card.dcim_dir, WEAR_FILE)
            self.health = HealthWatch(cfg, health_source, wear, fs=fs, clock=clock)
            ctl_kw["health"] = self.health
        self.controller = Controller(
            cfg,
            self.camera,
            self.library,
            clock=clock,
            power_off=power_off,
            on_tick=on_tick,
            provenance=provenance,
            settings=self.settings,
            **ctl_kw,
        )
        self.factory = MockFactory(pin_class=MockPWMPin)
        self.panel = Panel(cfg, self.controller.post, pin_factory=self.factory)
        self.controller.subscribe(self.panel.show)
        self.settings.subscribe(self.panel.follow_settings)
        self.segments: list[ClosedSegment] = []
        self._first_segment: int | None = None  # clips below it were there before
        self.controller.subscribe(self._note_segments)

    def start(self) -> Appliance:
        self.controller.start()
        if self.sealer is not None:
            self.sealer.start()  # after the scan, as the App does
        return self

    def close(self) -> None:
        if not self.controller.stopped.is_set():
            self.controller.shutdown()
        if self.sealer is not None:
            self.sealer.close()
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
        """Press a panel button through its mock pin (pull-up: low is pressed), long enough
        for the debounce to take the press and the release (:func:`hw.panel.press`)."""
        press(button, hold_s)

    def _note_segments(self, status: Status) -> None:
        """Note the segments closed since the last snapshot (on the controller thread).

        Every segment opened and closed since recording first began is a clip with a
        higher sequence number than the last one noted (clips are indexed in order).
        """
        if self._first_segment is None:
            if status.segment_seq is None:
                return
            self._first_segment = status.segment_seq
        last = self.segments[-1].seq if self.segments else self._first_segment - 1
        clips = self.library.page(kinds=(Kind.LOOP, Kind.PROTECTED), limit=16)
        for item in sorted(clips, key=lambda item: item.seq):
            if item.seq > last:
                protected = item.kind is Kind.PROTECTED
                self.segments.append(
                    ClosedSegment(item.seq, item.path, item.size, protected, item.duration_s)
                )

    def wait_segments(self, n: int, timeout_s: float = 30.0) -> list[ClosedSegment]:
        assert wait_until(lambda: len(self.segments) >= n, timeout_s), (
            f"only {len(self.segments)} of {n} segments closed in {timeout_s} s"
        )
        return list(self.segments)


def run_child(config: Path, root: Path, *flags: str) -> subprocess.Popen:
    """``dashcam run --sim <flags>`` on the card ``root`` as a child process (stderr piped,
    for the failure message), to be killed as a power cut would."""
    return subprocess.Popen(
        [sys.executable, "-m", "hw.cli", "run", "--sim", *flags]
        + ["--config", str(config), "--storage", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def partials(root) -> list[str]:
    return glob.glob(os.path.join(str(root), "DCIM", "**", "*.partial"), recursive=True)


def decode_counters(path: str) -> list[int]:
    """The burned-in frame counter of every frame that decodes in ``path``."""
    counters = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            counters.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
    return counters


def camera_packets(seconds: float, *, fps: int = 30, keyframe_interval_s: float = 1.0):
    """``seconds`` of packets from the simulated camera (320x240), as fast as it encodes."""
    camera = SimulatedCamera(
        width=320,
        height=240,
        fps=fps,
        bitrate=400_000,
        keyframe_interval_s=keyframe_interval_s,
        realtime=False,
    )
    wanted = round(seconds * fps)
    packets = []
    done = threading.Event()

    def sink(packet):
        if len(packets) < wanted:
            packets.append(packet)
        else:
            done.set()

    camera.start(sink)
    try:
        assert done.wait(120), f"the camera gave {len(packets)} of {wanted} packets"
    finally:
        camera.stop()
    return camera.info, packets


def three_clips(folder: Path, fps: int = 30) -> list[tuple[Path, list[int]]]:
    """Three 3-second clips in ``folder``, cut at keyframes from one run of the simulated
    camera as the recorder cuts segments; each with the frame counters it holds."""
    from appliance.media.segment import SegmentWriter

    info, packets = camera_packets(9.2, fps=fps)
    keyframes = [i for i, p in enumerate(packets) if p.keyframe]
    cuts = [keyframes[0], keyframes[3], keyframes[6], keyframes[9]]
    out = []
    for n in range(3):
        part = packets[cuts[n] : cuts[n + 1]]
        path = folder / f"clip{n}.mp4"
        writer = SegmentWriter(str(path), info, part[0], max_fragment_s=1.5)
        for packet in part[1:]:
            writer.write(packet)
        writer.close()
        out.append((path, list(range(cuts[n], cuts[n + 1]))))
    return out


class PowerCutModel:
    """What a power cut leaves of a segment, judged by what each ``fdatasync`` made durable.

    Records ``packets`` with the real :class:`SegmentWriter`, given a sync function that
    does the real ``fdatasync`` and then notes the file's bytes at that moment (the
    durable prefix). Packet ``i`` is written at its camera time ``pts_i``; a cut at moment
    ``t`` leaves the durable prefix of the last sync made by then. :meth:`loss_s` copies
    that prefix to a fresh partial file, runs :func:`recover` on it and returns the seconds
    of video written before ``t`` that the recovered file does not hold.
    """

    def __init__(self, workdir, info, packets, *, max_fragment_s=None):
        from appliance.media.segment import SegmentWriter

        self.workdir = str(workdir)
        self.info = info
        self.packets = packets
        self.frame_s = 1 / info.fps
        self.syncs: list[tuple[int, bytes]] = []  # (packets written, durable bytes)
        path = os.path.join(self.workdir, "segment.mp4")
        written = {"n": 1}  # packets handed to the writer, the one being muxed included

        def sync(fd):
            os.fdatasync(fd)
            with open(path, "rb") as fh:
                self.syncs.append((written["n"], fh.read()))

        writer = SegmentWriter(path, info, packets[0], max_fragment_s=max_fragment_s, sync=sync)
        for packet in packets[1:]:
            written["n"] += 1
            writer.write(packet)
        writer.close()
        self._cuts = 0

    def written_at(self, t_s: float) -> int:
        """Packets written by moment ``t_s`` (seconds from the first packet)."""
        first = self.packets[0].pts_us
        return sum(1 for p in self.packets if (p.pts_us - first) / 1e6 <= t_s)

    def durable_at(self, written: int) -> bytes:
        """The durable prefix once ``written`` packets are written (and synced if due)."""
        durable = b""
        for count, data in self.syncs:
            if count <= written:
                durable = data
        return durable

    def loss_s(self, t_s: float) -> float:
        """Seconds of video written before ``t_s`` that a cut at ``t_s`` loses."""
        from appliance.media.segment import recover

        written = self.written_at(t_s)
        self._cuts += 1
        path = os.path.join(self.workdir, f"cut{self._cuts}.mp4.partial")
        with open(path, "wb") as fh:
            fh.write(self.durable_at(written))
        recovered = recover(path)
        frames = recovered.frames if recovered else 0
        os.unlink(path)
        return (written - frames) * self.frame_s
