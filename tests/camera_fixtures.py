"""Helpers for the camera tests: a packet collector, decoding, JPEG checks, MP4 muxing.

A plain module (not a conftest) so any test file can import it.
"""

from __future__ import annotations

import importlib.abc
import io
import sys
import threading
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from appliance.media.stream_copy import mux_stream
from appliance.ports import PTS_PER_SECOND, EncodedPacket
from hw.camera.sim import SimulatedCamera, read_frame_counter

US = Fraction(1, PTS_PER_SECOND)


class Collector:
    """A camera's ``on_packet`` and ``on_error`` sinks that tests can wait on.

    Args:
        keep: Keep at most this many packets (later ones are counted, not kept).
    """

    def __init__(self, keep: int = 100_000) -> None:
        self.keep = keep
        self.packets: list[EncodedPacket] = []
        self.count = 0
        self.errors: list[BaseException] = []
        self.error_event = threading.Event()
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def on_packet(self, packet: EncodedPacket) -> None:
        with self._cond:
            if len(self.packets) < self.keep:
                self.packets.append(packet)
            self.count += 1
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.error_event.set()

    def wait_for_count(self, count: int, timeout_s: float = 10.0) -> bool:
        """Wait until ``count`` packets arrived; False on timeout."""
        return self.wait_until(lambda: self.count >= count, timeout_s)

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Wait until ``predicate()`` holds (checked on every packet); False on timeout."""
        with self._cond:
            return self._cond.wait_for(predicate, timeout_s)

    def snapshot(self) -> list[EncodedPacket]:
        """A copy of the packets kept so far."""
        with self._cond:
            return list(self.packets)


class JpegCollector:
    """A preview sink that keeps ``(jpeg, pts_us, arrival_s)`` and can be waited on."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, int, float]] = []
        self._cond = threading.Condition()

    def __call__(self, jpeg: bytes, pts_us: int) -> None:
        with self._cond:
            self.items.append((jpeg, pts_us, time.monotonic()))
            self._cond.notify_all()

    def wait_for_count(self, count: int, timeout_s: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.items) >= count, timeout_s)


def poll_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` every 10 ms until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    tick = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        tick.wait(0.01)
    return True


def jpeg_image(data: bytes) -> Image.Image:
    """Open JPEG bytes, checking the markers and that the whole image decodes."""
    assert data[:2] == b"\xff\xd8", "no JPEG SOI marker"
    assert data[-2:] == b"\xff\xd9", "no JPEG EOI marker"
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def read_counter_of_jpeg(data: bytes) -> int:
    """The frame counter burned into a JPEG of the simulated picture."""
    return read_frame_counter(np.asarray(jpeg_image(data).convert("RGB")))


def decode_packets(packets: Iterable[EncodedPacket]) -> list[tuple[int, av.VideoFrame]]:
    """Decode Annex B packets in order; pairs of (frame_index of the packet, frame).

    Raises:
        AssertionError: A packet gave no frame or more than one (the decoder must not
            delay frames: the streams have no B-frames).
    """
    decoder = av.CodecContext.create("h264", "r")
    out: list[tuple[int, av.VideoFrame]] = []
    for packet in packets:
        frames = decoder.decode(av.Packet(packet.data))
        assert len(frames) == 1, f"packet {packet.frame_index} gave {len(frames)} frames"
        out.append((packet.frame_index, frames[0]))
    return out


def rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as an ``(h, w, 3)`` uint8 array."""
    return frame.to_ndarray(format="rgb24")


def write_mp4(path: Path, packets: list[EncodedPacket], width: int, height: int, fps: int) -> Path:
    """Mux Annex B packets into a plain MP4 by stream copy.

    The stream is the recorder's (``appliance.media.stream_copy.mux_stream``); the MP4 muxer
    builds the ``avcC`` extradata from the SPS/PPS of the first packet (a keyframe) and
    converts the packets to length-prefixed NAL units, as for any H.264 stream copy.
    """
    assert packets and packets[0].keyframe, "an MP4 must start with a keyframe"
    with av.open(str(path), "w", format="mp4") as container:
        stream = mux_stream(
            container,
            "h264",
            rate=fps,
            width=width,
            height=height,
            keyframe=packets[0].data,
            time_base=US,
        )
        first_us = packets[0].pts_us
        frame_us = PTS_PER_SECOND // fps
        for packet in packets:
            out = av.Packet(packet.data)
            out.stream = stream
            out.time_base = US
            out.pts = out.dts = packet.pts_us - first_us
            out.duration = frame_us
            out.is_keyframe = packet.keyframe
            container.mux(out)
    return path


def record_sim(
    frames: int,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    keyframe_interval_s: float = 0.5,
) -> list[EncodedPacket]:
    """The first ``frames`` packets of a simulated camera running as fast as it can."""
    camera = SimulatedCamera(
        width=width,
        height=height,
        fps=fps,
        keyframe_interval_s=keyframe_interval_s,
        preview_fps=min(10, fps),
        realtime=False,
    )
    collector = Collector(keep=frames)
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(frames, 30.0), "simulated camera too slow"
    finally:
        camera.stop()
    assert not collector.errors
    return collector.packets[:frames]


def make_sim_mp4(
    path: Path,
    frames: int = 60,
    width: int = 320,
    height: int = 240,
    fps: int = 30,
    keyframe_interval_s: float = 0.5,
) -> Path:
    """Record ``frames`` frames of the simulated camera into an MP4 at ``path``."""
    packets = record_sim(frames, width, height, fps, keyframe_interval_s)
    return write_mp4(path, packets, width, height, fps)


def live_camera_threads() -> list[str]:
    """Names of live threads that belong to a camera backend."""
    return [t.name for t in threading.enumerate() if t.name.startswith("camera-") and t.is_alive()]


class MissingModule(importlib.abc.MetaPathFinder):
    """An import hook for a module that is not installed (as OpenCV on a stock Pi OS):
    importing it raises ``ModuleNotFoundError``, and every attempt is recorded.

    Use as a context manager; ``attempts`` lists the module names asked for.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.attempts: list[str] = []

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] == self.name:
            self.attempts.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

    def __enter__(self) -> MissingModule:
        sys.meta_path.insert(0, self)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.meta_path.remove(self)
