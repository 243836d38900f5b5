"""Helpers shared by the H.264 camera backends.

* Annex B parsing: split an access unit into NAL units, find SPS/PPS, tell an IDR.
* :func:`frame_to_jpeg`: a decoded or drawn frame to JPEG bytes at a given size.
* :class:`LatestWorker`: a thread that works only on the most recent item offered.
* :class:`ThreadedCamera`: the lifecycle every backend here shares (one capture thread,
  error reported once, stills served by the capture thread, preview on its own thread).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av

from appliance.errors import CameraError
from appliance.ports import Camera, EncodedPacket, ErrorSink, JpegSink, PacketSink

log = logging.getLogger(__name__)

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

STILL_JPEG_QUALITY = 90
PREVIEW_JPEG_QUALITY = 75


def split_nal_units(data: bytes) -> list[bytes]:
    """Split Annex B bytes into NAL units (start codes removed).

    Start codes are found with ``bytes.find`` (emulation prevention keeps ``00 00 01`` out
    of NAL payloads), so a large access unit is split at C speed on the camera's path.

    Args:
        data: Annex B bytes (``00 00 01`` or ``00 00 00 01`` start codes).

    Returns:
        The NAL units in order, each starting with its NAL header byte.
    """
    data = bytes(data)
    units: list[bytes] = []
    start = -1
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        if start >= 0:
            end = pos
            while end > start and data[end - 1] == 0:  # trailing zero of a 4-byte code
                end -= 1
            units.append(data[start:end])
        start = pos + 3
        pos = data.find(b"\x00\x00\x01", start)
    if 0 <= start < len(data):
        units.append(data[start:])
    return units


def nal_type(unit: bytes) -> int:
    """The ``nal_unit_type`` of one NAL unit (without start code)."""
    return unit[0] & 0x1F


def nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex B access unit, in order."""
    return [nal_type(u) for u in split_nal_units(data) if u]


def is_idr(data: bytes) -> bool:
    """True if the Annex B access unit holds an IDR slice."""
    return NAL_IDR in nal_types(data)


def parameter_sets(data: bytes) -> bytes:
    """The SPS and PPS of an Annex B access unit, as Annex B bytes.

    Args:
        data: An access unit, normally a keyframe with in-line headers.

    Returns:
        ``00 00 00 01 SPS 00 00 00 01 PPS ...``; empty if the unit carries none.
    """
    return b"".join(
        b"\x00\x00\x00\x01" + u for u in split_nal_units(data) if u and nal_type(u) in (7, 8)
    )


def frame_to_jpeg(
    frame: av.VideoFrame, width: int, height: int, quality: int = STILL_JPEG_QUALITY
) -> bytes:
    """Scale a frame to ``width`` x ``height`` and encode it as JPEG.

    Args:
        frame: Any PyAV video frame (yuv420p from the encoder side or a decoder).
        width: Output width in pixels.
        height: Output height in pixels.
        quality: JPEG quality, 1..95.

    Returns:
        The JPEG bytes.
    """
    image = frame.to_image(width=width, height=height)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class LatestWorker:
    """A thread that runs ``work(item)`` on the most recent item offered.

    Offering never blocks: an item not yet taken is replaced by the newer one, so a slow
    consumer drops old items instead of queueing them.

    Args:
        work: Called on the worker thread with each item taken.
        name: Thread name.
        on_error: Called on the worker thread if ``work`` raises; the worker then ends.
    """

    def __init__(
        self,
        work: Callable[[Any], None],
        name: str,
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._work = work
        self._on_error = on_error
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, item: Any) -> None:
        """Hand over ``item``, replacing any item not yet taken."""
        with self._cond:
            self._item = item
            self._has_item = True
            self._cond.notify()

    def stop(self) -> None:
        """Stop the worker and join its thread (unless called from it)."""
        with self._cond:
            self._stopping = True
            self._item = None
            self._has_item = False
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_item and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                item = self._item
                self._item = None
                self._has_item = False
            try:
                self._work(item)
            except BaseException as exc:  # noqa: BLE001 - reported, never raised here
                self._on_error(exc)
                return


class _StillRequest:
    """One pending :meth:`ThreadedCamera.capture_still` call."""

    __slots__ = ("done", "item", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.item: Any = None
        self.error: BaseException | None = None


class ThreadedCamera(Camera):
    """Lifecycle shared by the backends: capture thread, stills, preview, errors.

    A subclass implements :meth:`_open` (called in ``start``, in the caller's thread, so a
    bad setup raises there), :meth:`_run` (the capture loop, on the camera thread; it calls
    :meth:`_deliver` for each packet and returns when :attr:`_stop_event` is set),
    :meth:`_close`, and the two converters :meth:`_still_jpeg` and :meth:`_preview_jpeg`.

    Attributes:
        preview_frames_encoded: Preview JPEGs encoded so far (0 while no sink was ever set).
        keyframe_interval_s: Longest time between two keyframes of the video.
        max_keyframe_delay_s: Longest time from :meth:`request_keyframe` to a keyframe.
    """

    keyframe_interval_s: float
    max_keyframe_delay_s: float

    def __init__(self, name: str, preview_fps: float) -> None:
        self._name = name
        self._preview_period_s = 1.0 / preview_fps
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._preview_worker: LatestWorker | None = None
        self._preview_sink: JpegSink | None = None
        self._next_preview_s = 0.0
        self._stills: list[_StillRequest] = []
        self._on_packet: PacketSink | None = None
        self._on_error: ErrorSink | None = None
        self._error_reported = False
        self.preview_frames_encoded = 0

    # -- Camera interface -------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True between ``start`` and ``stop`` while the capture thread lives."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop_event.is_set()

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
            self._on_packet = on_packet
            self._on_error = on_error
            self._error_reported = False
            self._stop_event.clear()
            self._open()
            self._next_preview_s = 0.0
            self._preview_worker = LatestWorker(
                self._preview_work, f"camera-{self._name}-preview", self._report_error
            )
            self._thread = threading.Thread(
                target=self._run_guarded, name=f"camera-{self._name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the capture and preview threads and join them. Idempotent."""
        self._stop_event.set()
        with self._lock:
            thread, self._thread = self._thread, None
            worker, self._preview_worker = self._preview_worker, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if worker is not None:
            worker.stop()
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
        return self._still_jpeg(request.item)

    def set_preview_sink(self, sink: JpegSink | None) -> None:
        """Send preview JPEGs to ``sink`` (at most ``preview_fps``); ``None`` stops them."""
        self._preview_sink = sink

    # -- for subclasses ---------------------------------------------------------------

    def _open(self) -> None:
        """Prepare for capture (caller's thread, under the lock)."""

    def _close(self) -> None:
        """Release what ``_open`` took, after the threads are joined."""

    def _run(self) -> None:
        raise NotImplementedError

    def _still_jpeg(self, item: Any) -> bytes:
        raise NotImplementedError

    def _preview_jpeg(self, item: Any) -> tuple[bytes, int]:
        raise NotImplementedError

    def _deliver(self, packet: EncodedPacket, still_item: Callable[[], Any]) -> None:
        """Serve waiting stills and preview from this frame, then pass the packet on.

        Args:
            packet: The frame's encoded packet.
            still_item: Makes the item given to ``_still_jpeg``/``_preview_jpeg`` for this
                frame; called only when a still or a preview is due.
        """
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

    # -- internals --------------------------------------------------------------------

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported once through on_error
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
        jpeg, pts_us = self._preview_jpeg(item)
        self.preview_frames_encoded += 1
        sink = self._preview_sink
        if sink is not None:
            sink(jpeg, pts_us)
