"""What every camera backend shares: the stream checks, the error report, the threads.

* :func:`stream_info`: the one check of a backend's sizes and rates, and its
  :class:`CameraInfo`. ``Config`` checks the same keys for the appliance; this check is for
  a backend built without one (tests, the benches).
* :class:`CameraBase`: the ``info``, the lock, the stop event, and the first failure
  reported once through ``on_error`` (the Picamera2 backend and :class:`ThreadedCamera`).
* :class:`ThreadedCamera`: the simulated and the replay camera: one capture thread, stills
  served by it, preview JPEGs encoded on a :class:`LatestWorker`.
* :func:`frame_to_jpeg`: a PyAV frame to JPEG bytes at a given size.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from appliance.errors import CameraError
from appliance.ports import (
    PTS_PER_SECOND,
    Camera,
    CameraInfo,
    EncodedPacket,
    ErrorSink,
    JpegSink,
    MotionSink,
    PacketSink,
)
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Width of the grey frames a motion detector gets (the height keeps the aspect).
MOTION_WIDTH = 160

STILL_JPEG_QUALITY = 90
PREVIEW_JPEG_QUALITY = 75

#: Largest picture side any backend takes, in pixels.
MAX_SIZE = 4096
#: Smallest picture side, in pixels (a backend may ask for more).
MIN_SIZE = 16
#: Frame rates a backend takes.
MIN_FPS, MAX_FPS = 1, 120
#: Bit rates a backend takes, in bits per second.
MIN_BITRATE, MAX_BITRATE = 10_000, 100_000_000
#: Longest time between periodic keyframes.
MAX_KEYFRAME_INTERVAL_S = 60.0


def _check_size(arg: str, value: Any, low: int) -> None:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or value % 2
        or not low <= value <= MAX_SIZE
    ):
        raise ValueError(f"{arg} must be an even integer in {low}..{MAX_SIZE}, got {value!r}")


def stream_info(
    name: str,
    size: tuple[int, int],
    fps: int,
    *,
    preview: tuple[int, int, float],
    still: tuple[int | None, int | None] = (None, None),
    bitrate: int | None = None,
    keyframe_interval_s: float | None = None,
    min_size: tuple[int, int] = (MIN_SIZE, MIN_SIZE),
) -> CameraInfo:
    """Check a backend's streams and describe them.

    Args:
        name: Camera name (not empty).
        size: Video ``(width, height)`` in pixels (even, ``min_size``..4096).
        fps: Frames per second, 1..120.
        preview: Preview JPEG ``(width, height)`` (even, 16..4096) and most JPEGs per
            second ``fps``, ``0 < fps <= `` the video's.
        still: Still JPEG ``(width, height)``; None takes the video's.
        bitrate: Video bit rate in bits per second (10 kbit/s..100 Mbit/s), if the backend
            encodes.
        keyframe_interval_s: Time between periodic keyframes (one frame..60 s), if the
            backend sets it.
        min_size: Smallest video ``(width, height)`` this backend takes.

    Returns:
        The :class:`CameraInfo`.

    Raises:
        ValueError: A value is out of range; the message starts with the argument's name
            (``width``, ``preview_height``, ``preview_fps``, ...).
    """
    width, height = size
    preview_width, preview_height, preview_fps = preview
    still_width, still_height = still
    if not name:
        raise ValueError("name must not be empty")
    _check_size("width", width, min_size[0])
    _check_size("height", height, min_size[1])
    still_width = width if still_width is None else still_width
    still_height = height if still_height is None else still_height
    for arg, value in (
        ("still_width", still_width),
        ("still_height", still_height),
        ("preview_width", preview_width),
        ("preview_height", preview_height),
    ):
        _check_size(arg, value, MIN_SIZE)
    if not isinstance(fps, int) or isinstance(fps, bool) or not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(f"fps must be an integer in {MIN_FPS}..{MAX_FPS}, got {fps!r}")
    if not isinstance(preview_fps, int | float) or not 0 < preview_fps <= fps:
        raise ValueError(f"preview_fps must be in (0, fps], got {preview_fps!r}")
    if bitrate is not None and (
        not isinstance(bitrate, int) or not MIN_BITRATE <= bitrate <= MAX_BITRATE
    ):
        raise ValueError(
            f"bitrate must be an integer in {MIN_BITRATE}..{MAX_BITRATE}, got {bitrate!r}"
        )
    if keyframe_interval_s is not None and not (
        isinstance(keyframe_interval_s, int | float)
        and keyframe_interval_s * fps >= 1
        and keyframe_interval_s <= MAX_KEYFRAME_INTERVAL_S
    ):
        raise ValueError(
            f"keyframe_interval_s must be one frame to {MAX_KEYFRAME_INTERVAL_S:.0f} s, "
            f"got {keyframe_interval_s!r}"
        )
    return CameraInfo(
        name=name,
        width=width,
        height=height,
        fps=fps,
        still_width=still_width,
        still_height=still_height,
        preview_width=preview_width,
        preview_height=preview_height,
    )


def frame_to_jpeg(
    frame: av.VideoFrame,
    width: int,
    height: int,
    quality: int = STILL_JPEG_QUALITY,
    scaler: VideoReformatter | None = None,
) -> bytes:
    """Scale a frame to ``width`` x ``height`` and encode it as JPEG.

    The frame's own scaler is never used: PyAV keeps one per frame object (``to_image``,
    ``reformat``), and a still and a preview of the same frame, scaled at once on two
    threads through it, crash in swscale (a segfault, or a thread that never returns).

    Args:
        frame: Any PyAV video frame (yuv420p from the encoder side or a decoder).
        width: Output width in pixels.
        height: Output height in pixels.
        quality: JPEG quality, 1..95.
        scaler: The calling thread's own scaler, kept between calls (making one costs
            about 5 ms at 1080p); None: a new one for this call.

    Returns:
        The JPEG bytes.
    """
    rgb = (scaler or VideoReformatter()).reformat(frame, width=width, height=height, format="rgb24")
    image = rgb.to_image()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def check_rate(fps: Any, bitrate: Any) -> None:
    """Check a rate given to :meth:`~appliance.ports.Camera.set_video_rate`.

    Raises:
        ValueError: ``fps`` or ``bitrate`` is not a whole number in the backends' bounds.
    """
    if not isinstance(fps, int) or isinstance(fps, bool) or not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(f"fps must be an integer in {MIN_FPS}..{MAX_FPS}, got {fps!r}")
    if (
        not isinstance(bitrate, int)
        or isinstance(bitrate, bool)
        or not MIN_BITRATE <= bitrate <= MAX_BITRATE
    ):
        raise ValueError(f"bitrate must be in {MIN_BITRATE}..{MAX_BITRATE}, got {bitrate!r}")


def grey_thumbnail(luma: np.ndarray, width: int = MOTION_WIDTH) -> np.ndarray:
    """A small grey picture of a luma plane: the mean of each ``f``×``f`` block, where
    ``f`` is the plane's width over ``width`` (whole blocks only)."""
    height_px, width_px = luma.shape
    f = max(1, width_px // width)
    h, w = (height_px // f) * f, (width_px // f) * f
    blocks = luma[:h, :w].reshape(h // f, f, w // f, f)
    return blocks.mean(axis=(1, 3), dtype=np.float32).astype(np.uint8)


class CameraBase(Camera):
    """The state every backend keeps: its info, a lock, a stop event, the error report.

    Args:
        info: The streams, from :func:`stream_info`.
        preview_fps: Most preview JPEGs per second.

    Attributes:
        preview_frames_encoded: Preview JPEGs encoded so far.
    """

    def __init__(self, info: CameraInfo, preview_fps: float) -> None:
        self._info = info
        self._name = info.name
        self._preview_fps = preview_fps
        self._lock = threading.RLock()
        self._stop_event = threading.Event()
        self._on_packet: PacketSink | None = None
        self._on_error: ErrorSink | None = None
        self._error_reported = False
        self._preview_sink: JpegSink | None = None
        self.preview_frames_encoded = 0

    @property
    def info(self) -> CameraInfo:
        """The stream description (valid before start)."""
        return self._info

    def _begin(self, on_packet: PacketSink, on_error: ErrorSink | None) -> None:
        """Take the sinks of a new start and clear the last run's failure and stop."""
        self._on_packet, self._on_error = on_packet, on_error
        self._error_reported = False
        self._stop_event.clear()

    def _report_error(self, exc: BaseException) -> None:
        """Report the first failure through ``on_error`` (or the log) and stop capture."""
        with self._lock:
            first = not self._error_reported
            self._error_reported = True
        self._stop_event.set()
        if not first:
            log.debug("camera %s: further error %r", self._name, exc)
            return
        on_error = self._on_error
        if on_error is None:
            log.error("camera %s failed: %r", self._name, exc)
            return
        try:
            on_error(exc)
        except Exception:  # noqa: BLE001 - the error sink must not kill the thread
            log.exception("camera %s: on_error raised", self._name)

    def _thread_failed(self, _thread_name: str, exc: BaseException) -> None:
        """A :class:`Worker`'s error report: the camera's first failure."""
        self._report_error(exc)


class LatestWorker:
    """A worker thread that runs ``work(item)`` on the most recent item offered.

    Offering never blocks: an item not yet taken is replaced by the newer one, so a slow
    consumer drops old items instead of queueing them.

    Args:
        work: Called on the worker thread with each item taken.
        name: Thread name.
        on_error: ``(name, exception)`` if ``work`` raises; the worker then ends.
    """

    def __init__(
        self,
        work: Callable[[Any], None],
        name: str,
        on_error: Callable[[str, BaseException], None],
    ) -> None:
        self._work = work
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._worker = Worker(self._run, name, on_error=on_error)
        self._stopping = self._worker.stopping
        self._worker.start()

    def offer(self, item: Any) -> None:
        """Hand over ``item``, replacing any item not yet taken."""
        with self._cond:
            self._item = item
            self._has_item = True
            self._cond.notify()

    def stop(self) -> bool:
        """Stop the worker and wait for its thread (bounded; not from the thread itself).

        Returns:
            True if the thread has ended.
        """
        with self._cond:
            self._stopping.set()
            self._item = None
            self._has_item = False
            self._cond.notify()
        return self._worker.stop()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._worker.alive

    def _run(self) -> None:
        cond, stopping = self._cond, self._stopping
        while True:
            with cond:
                while not self._has_item and not stopping.is_set():
                    cond.wait()
                if stopping.is_set():
                    return
                item = self._item
                self._item = None
                self._has_item = False
            self._work(item)


class _StillRequest:
    """One pending :meth:`ThreadedCamera.capture_still` call."""

    __slots__ = ("done", "item", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.item: Any = None
        self.error: BaseException | None = None


class ThreadedCamera(CameraBase):
    """A backend that captures on a thread of its own: stills, preview, errors.

    A subclass implements :meth:`_open` (called in ``start``, in the caller's thread, so a
    bad setup raises there), :meth:`_run` (the capture loop, on the camera thread; it calls
    :meth:`_deliver` for each packet and returns when :attr:`_stop_event` is set),
    :meth:`_close`, and the two converters :meth:`_still_frame` and
    :meth:`_preview_frame`; this class scales and encodes their frames as JPEG.

    Args:
        info: The streams, from :func:`stream_info`.
        preview_fps: Most preview JPEGs per second.
        fail_after_frames: Test hook kept by the subclass: its capture loop raises a
            :class:`CameraError` after this many frames, as a broken sensor would.

    Attributes:
        preview_frames_encoded: Preview JPEGs encoded so far (0 while no sink was ever set).
        keyframe_interval_s: Longest time between two keyframes of the video.
        max_keyframe_delay_s: Longest time from :meth:`request_keyframe` to a keyframe.
    """

    keyframe_interval_s: float
    max_keyframe_delay_s: float

    def __init__(
        self, info: CameraInfo, preview_fps: float, fail_after_frames: int | None = None
    ) -> None:
        if fail_after_frames is not None and fail_after_frames < 0:
            raise ValueError(f"fail_after_frames must be >= 0, got {fail_after_frames!r}")
        super().__init__(info, preview_fps)
        self._fail_after_frames = fail_after_frames
        self._preview_period_s = 1.0 / preview_fps
        self._thread: Worker | None = None
        self._preview_worker: LatestWorker | None = None
        self._preview_scaler = VideoReformatter()  # the preview worker's own
        self._next_preview_s = 0.0
        self._stills: list[_StillRequest] = []
        self._motion_sink: MotionSink | None = None
        self._motion_period_us = PTS_PER_SECOND // 5
        self._next_motion_us: int | None = None
        self._motion_worker: LatestWorker | None = None
        #: Motion frames given to the motion sink so far.
        self.motion_frames = 0

    # -- Camera interface -------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True between ``start`` and ``stop`` while the capture thread lives."""
        thread = self._thread
        return thread is not None and thread.alive and not self._stop_event.is_set()

    def start(self, on_packet: PacketSink, on_error: ErrorSink | None = None) -> None:
        """Start the capture thread; packets go to ``on_packet`` from it.

        A camera that failed must be stopped before it starts again.

        Raises:
            CameraError: The camera is already started (or failed and is not yet
                stopped), or it cannot be opened.
        """
        with self._lock:
            if self._thread is not None:
                raise CameraError(f"camera {self._name!r} is already running")
            self._begin(on_packet, on_error)
            self._open()
            self._next_preview_s = 0.0
            self._preview_worker = LatestWorker(
                self._preview_work, f"camera-{self._name}-preview", self._thread_failed
            )
            self._motion_worker = LatestWorker(
                self._motion_work, f"camera-{self._name}-motion", self._thread_failed
            )
            self._thread = Worker(self._run_until_stopped, f"camera-{self._name}").start()

    def stop(self) -> None:
        """Stop the capture and preview threads and join them. Idempotent."""
        self._stop_event.set()
        with self._lock:
            thread, self._thread = self._thread, None
            worker, self._preview_worker = self._preview_worker, None
            motion, self._motion_worker = self._motion_worker, None
        if thread is not None:
            # The loop sees the stop event within a frame, and on_packet never blocks.
            thread.join(None)
        if worker is not None:
            worker.stop()
        if motion is not None:
            motion.stop()
        if thread is not None:
            self._fail_stills(CameraError(f"camera {self._name!r} stopped"))
            self._close()

    def capture_still(self, timeout_s: float = 5.0) -> bytes:
        """Return a JPEG of the next frame at the still size; the video goes on.

        Raises:
            CameraError: The camera is not running, stopped, or gave no frame in time.
        """
        request = _StillRequest()
        with self._lock:
            if not self.is_running:
                raise CameraError(f"camera {self._name!r} is not running")
            self._stills.append(request)
        if not request.done.wait(timeout_s):
            with self._lock:
                if request in self._stills:
                    self._stills.remove(request)
            if not request.done.is_set():
                raise CameraError(f"camera {self._name!r} gave no frame in {timeout_s} s")
        if request.error is not None:
            raise CameraError(str(request.error)) from request.error
        info = self._info
        frame = self._still_frame(request.item)
        return frame_to_jpeg(frame, info.still_width, info.still_height, STILL_JPEG_QUALITY)

    def set_preview_sink(self, sink: JpegSink | None) -> None:
        """Send preview JPEGs to ``sink`` (at most ``preview_fps``); ``None`` stops them."""
        self._preview_sink = sink

    def set_motion_sink(self, sink: MotionSink | None, fps: float = 5.0) -> bool:
        """Send grey frames of :data:`MOTION_WIDTH` to ``sink`` at most ``fps`` a second of
        camera time (from a worker thread: a slow sink misses frames, never the video);
        ``None`` stops them.

        Raises:
            ValueError: ``fps`` is not positive.
        """
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        with self._lock:
            self._motion_period_us = max(1, int(PTS_PER_SECOND / fps))
            self._next_motion_us = None
            self._motion_sink = sink
        return True

    # -- for subclasses ---------------------------------------------------------------

    def _open(self) -> None:
        """Prepare for capture (caller's thread, under the lock)."""

    def _close(self) -> None:
        """Release what ``_open`` took, after the threads are joined."""

    def _run(self) -> None:
        raise NotImplementedError

    def _still_frame(self, item: Any) -> av.VideoFrame:
        """The picture of a frame's ``still_item`` (on the caller's thread)."""
        raise NotImplementedError

    def _preview_frame(self, item: Any) -> tuple[av.VideoFrame, int]:
        """The picture of a frame's ``still_item`` and its ``pts_us`` (preview thread)."""
        raise NotImplementedError

    def _motion_luma(self, item: Any) -> np.ndarray:
        """The luma plane of a frame's ``still_item`` for motion detection (motion thread).

        A backend whose frames carry drawn text (a clock, a counter) hands over a plane
        without it where it can (:class:`hw.camera.sim.SimulatedCamera` does).
        """
        frame, _pts_us = self._preview_frame(item)
        return frame.to_ndarray(format="gray")

    def _motion_due(self, pts_us: int) -> bool:
        """True if a motion frame is due at ``pts_us`` (camera time), and counts it given."""
        if self._motion_sink is None:
            return False
        due = self._next_motion_us
        if due is not None and pts_us < due:
            return False
        late = due is None or pts_us - due >= self._motion_period_us
        self._next_motion_us = (pts_us if late else due) + self._motion_period_us
        return True

    def _offer_motion(self, item: Any, pts_us: int) -> None:
        """Hand a frame to the motion worker (never blocks: an older one is replaced)."""
        worker = self._motion_worker
        if worker is not None:
            worker.offer((item, pts_us))

    def _motion_work(self, offered: tuple[Any, int]) -> None:
        sink = self._motion_sink
        if sink is None:
            return
        item, pts_us = offered
        grey = grey_thumbnail(self._motion_luma(item))
        self.motion_frames += 1
        sink(grey, pts_us)

    def _deliver(
        self, packet: EncodedPacket, still_item: Callable[[], Any], motion_item: Any = None
    ) -> None:
        """Serve waiting stills, preview and motion from this frame, then pass the packet on.

        Args:
            packet: The frame's encoded packet.
            still_item: Makes the item given to ``_still_frame``/``_preview_frame`` for
                this frame; called only when a still or a preview is due.
            motion_item: A callable making this frame's item for :meth:`_motion_luma`,
                called only when a motion frame is due; None: ``still_item``.
        """
        if self._motion_due(packet.pts_us):
            self._offer_motion((motion_item or still_item)(), packet.pts_us)
        item = None
        if self._stills:
            with self._lock:
                requests, self._stills = self._stills, []
            item = still_item()
            for request in requests:
                request.item = item
                request.done.set()
        if self._preview_sink is not None:
            now = time.monotonic()
            if now >= self._next_preview_s:
                late = now - self._next_preview_s
                self._next_preview_s = (
                    self._next_preview_s + self._preview_period_s
                    if late < self._preview_period_s
                    else now + self._preview_period_s
                )
                worker = self._preview_worker
                if worker is not None:
                    worker.offer(item if item is not None else still_item())
        on_packet = self._on_packet
        if on_packet is not None:
            on_packet(packet)

    # -- internals --------------------------------------------------------------------

    def _run_until_stopped(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported before the stills fail
            self._report_error(exc)
        finally:
            self._fail_stills(CameraError(f"camera {self._name!r} stopped"))

    def _fail_stills(self, error: BaseException) -> None:
        with self._lock:
            requests, self._stills = self._stills, []
        for request in requests:
            request.error = error
            request.done.set()

    def _preview_work(self, item: Any) -> None:
        if self._preview_sink is None:
            return
        frame, pts_us = self._preview_frame(item)
        info = self._info
        jpeg = frame_to_jpeg(
            frame,
            info.preview_width,
            info.preview_height,
            PREVIEW_JPEG_QUALITY,
            self._preview_scaler,
        )
        self.preview_frames_encoded += 1
        sink = self._preview_sink
        if sink is not None:
            sink(jpeg, pts_us)
