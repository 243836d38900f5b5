"""The preview hub: one camera preview shared by every viewer, newest frame only.

The camera encodes a preview JPEG only while a sink is set. The hub sets itself as the sink
when the first viewer joins and clears it when the last one leaves, so the camera encodes
each frame once whatever the number of viewers. Viewers never queue frames: each waits for
a frame newer than the one it sent last and gets the newest; a slow viewer skips frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from appliance.ports import Camera


@dataclass(frozen=True, slots=True)
class Frame:
    """One preview JPEG.

    Attributes:
        seq: The hub's running frame number, from 1.
        jpeg: The JPEG bytes.
        pts_us: The camera's timestamp of the picture (microseconds, monotonic clock).
    """

    seq: int
    jpeg: bytes
    pts_us: int


class HubFull(Exception):
    """No room for another viewer: the hub has ``max_viewers`` already."""


class PreviewPaused(Exception):
    """The preview is paused (the thermal policy); the message says why, for the driver."""


#: What the dashboard shows while the thermal policy keeps the preview off.
PAUSED_HOT = "Preview paused: the camera is hot"


class Viewer:
    """A viewer's handle: wait for newer frames, then :meth:`leave` (or use ``with``)."""

    def __init__(self, hub: PreviewHub) -> None:
        self._hub = hub
        self.last_seq = 0
        self.frames_sent = 0
        self._left = False

    def next_frame(self, timeout_s: float) -> Frame | None:
        """The newest frame newer than the last one taken, or None after ``timeout_s``."""
        frame = self._hub.wait_newer(self.last_seq, timeout_s)
        if frame is not None:
            self.last_seq = frame.seq
            self.frames_sent += 1
        return frame

    def leave(self) -> None:
        """Free this viewer's place. Idempotent."""
        if not self._left:
            self._left = True
            self._hub._leave()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.leave()


class PreviewHub:
    """Latest-frame hub between a camera's preview sink and any number of viewers.

    Args:
        camera: The camera whose preview is shared.
        max_viewers: :meth:`join` refuses viewers past this many.
    """

    def __init__(self, camera: Camera, max_viewers: int = 3) -> None:
        if max_viewers < 1:
            raise ValueError("max_viewers must be >= 1")
        self.camera = camera
        self.max_viewers = max_viewers
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._viewers = 0
        self._closed = False
        self._paused: str | None = None
        self.frames_received = 0

    def follow_settings(self, config) -> None:
        """The live settings changed: the cap takes ``preview_max_viewers`` (a follower of
        :class:`appliance.live_settings.LiveSettings`); viewers already in stay."""
        if config.preview_max_viewers < 1:
            raise ValueError("max_viewers must be >= 1")
        self.max_viewers = config.preview_max_viewers

    def follow_status(self, status) -> None:
        """A controller status (its subscriber): the preview pauses while the health
        watch's thermal step has it off (``status.health["preview"]`` false)."""
        health = getattr(status, "health", None)
        off = isinstance(health, dict) and health.get("preview") is False
        self.pause(PAUSED_HOT if off else None)

    def pause(self, reason: str | None) -> None:
        """Pause the preview (``reason``: why, in the driver's words) or resume it (None).

        While paused the camera makes no preview JPEG, new viewers are refused
        (:class:`PreviewPaused`) and the viewers in are woken to leave.
        """
        with self._cond:
            if reason == self._paused:
                return
            was, self._paused = self._paused, reason
            if reason is not None and was is None:
                if self._viewers:
                    self.camera.set_preview_sink(None)
                self._frame = None
            elif reason is None and self._viewers:
                self.camera.set_preview_sink(self.put)
            self._cond.notify_all()

    @property
    def paused(self) -> str | None:
        """Why the preview is paused, or None."""
        return self._paused

    @property
    def viewers(self) -> int:
        """Viewers connected now."""
        with self._cond:
            return self._viewers

    @property
    def latest(self) -> Frame | None:
        """The newest frame (None before the first)."""
        with self._cond:
            return self._frame

    def join(self) -> Viewer:
        """Add a viewer; the first one turns the camera's preview on.

        Raises:
            HubFull: ``max_viewers`` viewers are connected already.
            PreviewPaused: the preview is paused (:meth:`pause`).
        """
        with self._cond:
            if self._paused is not None:
                raise PreviewPaused(self._paused)
            if self._viewers >= self.max_viewers:
                raise HubFull(f"{self._viewers} preview viewers already (the most allowed)")
            self._viewers += 1
            first = self._viewers == 1
            if first:
                self._frame = None  # never show a stale picture from an earlier session
                self.camera.set_preview_sink(self.put)
        return Viewer(self)

    def put(self, jpeg: bytes, pts_us: int) -> None:
        """The camera's preview sink: keep this frame as the newest and wake viewers (a
        frame made as the pause began is dropped)."""
        with self._cond:
            if self._paused is not None:
                return
            self._seq += 1
            self.frames_received += 1
            self._frame = Frame(self._seq, jpeg, pts_us)
            self._cond.notify_all()

    def wait_newer(self, after_seq: int, timeout_s: float) -> Frame | None:
        """Block until a frame with ``seq > after_seq`` exists; None on timeout, at a pause
        or at :meth:`close`."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    self._closed
                    or self._paused is not None
                    or (self._frame is not None and self._frame.seq > after_seq)
                ),
                timeout_s,
            )
            frame = self._frame
            return frame if frame is not None and frame.seq > after_seq else None

    def close(self) -> None:
        """Wake every waiting viewer for good (the server is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _leave(self) -> None:
        with self._cond:
            self._viewers -= 1
            if self._viewers == 0 and self._paused is None:  # paused: cleared already
                self.camera.set_preview_sink(None)
            self._cond.notify_all()
