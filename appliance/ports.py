"""The small interfaces the core needs from the outside world.

``hw`` implements the camera and the panel; tests inject fakes for the clock and disk
usage. The core never knows which implementation it got.
"""

from __future__ import annotations

import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np

#: Packet timestamps are in microseconds, as picamera2 gives them.
PTS_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """One encoded H.264 access unit from a camera.

    Attributes:
        data: Annex B bytes. A keyframe carries its SPS and PPS in-line.
        pts_us: Presentation time in microseconds on the camera's monotonic clock.
        keyframe: True for an IDR frame (a segment may start here).
        frame_index: The camera's running frame number, from 0, never reset while the
            camera runs; the simulated camera also burns it into the picture.
    """

    data: bytes
    pts_us: int
    keyframe: bool
    frame_index: int


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """What the recorder and the dashboard need to know about a camera's streams."""

    name: str
    width: int
    height: int
    fps: int
    codec: str = "h264"
    still_width: int = 0
    still_height: int = 0
    preview_width: int = 0
    preview_height: int = 0


PacketSink = Callable[[EncodedPacket], None]
#: A motion frame: a small grey picture (``(h, w)`` uint8 luma, no overlay drawn on it)
#: and the ``pts_us`` of the frame it shows.
MotionSink = Callable[["np.ndarray", int], None]
JpegSink = Callable[[bytes, int], None]  # (jpeg bytes, pts_us of the frame it shows)
ErrorSink = Callable[[BaseException], None]


class Camera(ABC):
    """A camera backend: encoded video out, stills and preview JPEGs on request.

    The contract every backend keeps (checked by ``tests/test_camera_contract.py``):

    * ``start(on_packet, on_error)`` begins delivering :class:`EncodedPacket` objects on the
      backend's own thread, in order, with strictly increasing ``pts_us`` and
      ``frame_index``. The first packet is a keyframe. ``on_packet`` must not block; the
      core's sink never does.
    * A keyframe comes at least every ``keyframe_interval_s`` seconds, and within one frame
      interval or two after :meth:`request_keyframe`.
    * :meth:`capture_still` returns a full-resolution JPEG without interrupting the video.
    * Preview JPEGs go to the sink given to :meth:`set_preview_sink` only while a sink is
      set; with no sink the backend does no preview work at all.
    * A failure after start is reported once through ``on_error`` (never raised into the
      caller's thread); :meth:`stop` is safe to call at any time, more than once.
    * A :meth:`stop` that could not release the camera (its library never returned) makes
      every later :meth:`start` raise :class:`~appliance.errors.CameraStuck`: only a new
      process can open that camera again.
    """

    @property
    @abstractmethod
    def info(self) -> CameraInfo:
        """The camera's stream description (valid before ``start``)."""

    @abstractmethod
    def start(self, on_packet: PacketSink, on_error: ErrorSink | None = None) -> None:
        """Start delivering encoded packets to ``on_packet``."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the camera and join its threads. Idempotent."""

    @abstractmethod
    def request_keyframe(self) -> None:
        """Make the next encoded frame (or the one after) a keyframe."""

    @abstractmethod
    def capture_still(self, timeout_s: float = 5.0) -> bytes:
        """Return a full-resolution JPEG of the current picture; video goes on."""

    @abstractmethod
    def set_preview_sink(self, sink: JpegSink | None) -> None:
        """Send preview JPEGs to ``sink``; ``None`` stops preview work entirely."""

    def set_video_rate(self, fps: int, bitrate: int) -> bool:
        """Encode at ``fps`` and ``bitrate`` from the next keyframe on, without stopping
        the video (parking, the thermal policy). ``frame_index`` and ``pts_us`` go on
        rising; the first packet at the new rate is a keyframe.

        Returns:
            False if this backend cannot change its rate while it runs (nothing changed).
        """
        return False

    def set_motion_sink(self, sink: MotionSink | None, fps: float = 5.0) -> bool:
        """Send small grey frames (at most ``fps`` a second) to ``sink`` for motion
        detection; ``None`` stops that work entirely.

        Returns:
            False if this backend has no motion stream (nothing is ever sent).
        """
        return False


class DiskUsage(NamedTuple):
    total: int
    free: int


DiskUsageFn = Callable[[str], DiskUsage]


def real_disk_usage(path: str) -> DiskUsage:
    """Total and free bytes of the file system holding ``path``."""
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.free)


class FileSystem:
    """The file-system calls through which a failing card shows its faults.

    A card that returns EIO usually fails at write-back, so the sync is where it shows; a
    card turned read-only or pulled fails renames and new folders. The library and the
    recorder make these calls through this port; tests inject one that fails on demand.
    """

    def sync(self, fd: int) -> None:
        """Make the data written to ``fd`` durable (``fdatasync``)."""
        os.fdatasync(fd)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing ``dst`` (never follows a symlink)."""
        os.replace(src, dst)

    def mkdir(self, path: str) -> None:
        """Create one folder (its parent must exist)."""
        os.mkdir(path)


class Clock:
    """Wall clock and monotonic clock, injectable so tests can set the date back."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
