"""From picamera2's encoders to the appliance: the Output, the packet queue, the IDR rule.

* :func:`output_class`: one picamera2 ``Output`` that hands every buffer of an encoder to
  a callback, with its timestamp on the sensor's clock (the H.264 and the MJPEG encoder).
* :class:`H264Delivery`: the H.264 encoder calls ``outputframe`` from its own thread, or
  (``LibavH264Encoder``) from the camera thread while holding ``Picamera2.lock``; that call
  only copies the buffer into a bounded queue and returns. A delivery thread turns the
  buffers into :class:`EncodedPacket` objects by the IDR rule and hands them to
  ``on_packet``, so a slow disk never stalls the camera. Past the bound, buffers are
  dropped and counted, and delivery resumes at the next IDR.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.ports import EncodedPacket, PacketSink
from appliance.worker import ErrorHandler, Worker
from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SLICE, NAL_SPS, nal_types, parameter_sets

log = logging.getLogger(__name__)

#: Dropped packets are logged at most once in this period.
DROP_LOG_PERIOD_S = 10.0

#: Parameter sets kept while they wait for their IDR; past this they start over.
PENDING_MAX_BYTES = 1024

#: ``callback(frame, keyframe, pts_us)``: an encoder's buffer, its flag, its sensor time.
FrameCallback = Callable[[Any, bool, int], None]


def sensor_us(encoder: Any, timestamp_us: int | None) -> int:
    """An encoder's timestamp (relative to its first frame) on the sensor's clock."""
    first = getattr(encoder, "firsttimestamp", None) or 0
    return int(first) + int(timestamp_us or 0)


@functools.cache
def output_class(output_base: type) -> type:
    """The ``Output`` subclass that calls back, built on the picamera2 ``Output`` given."""

    class CallbackOutput(output_base):
        """Hands each buffer of ``encoder`` to ``callback(frame, keyframe, pts_us)``."""

        def __init__(self, callback: FrameCallback, encoder: Any) -> None:
            super().__init__()
            self._callback = callback
            self._encoder = encoder

        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            # Runs on the encoder's or the camera's thread: the callback returns at once.
            if audio or frame is None:
                return
            self._callback(frame, bool(keyframe), sensor_us(self._encoder, timestamp))

    return CallbackOutput


class H264Delivery:
    """Encoded buffers to ``on_packet``, in order, on a thread of their own.

    A keyframe is a buffer with an IDR slice, whatever the encoder's flag says, with its
    SPS/PPS in-line: a buffer of parameter sets alone (the V4L2 encoder emits one at low bit
    rates, and picamera2 before 0.3.27 flags it as a keyframe) is kept and put before the
    next buffer; an IDR without SPS/PPS (picamera2 0.3.27 on drops that buffer) gets the
    last ones seen. ``frame_index`` and ``pts_us`` go on increasing across restarts.

    Args:
        name: The camera's name (thread name, logs).
        queue_size: Buffers that may wait for ``on_packet``.
        request_keyframe: Called on the encoder's thread at the first buffer dropped, so
            delivery resumes soon.

    Attributes:
        overflowed: Buffers dropped because the queue was full.
        skipped: Buffers dropped after an overflow, before the next IDR.
    """

    def __init__(self, name: str, queue_size: int, request_keyframe: Callable[[], None]) -> None:
        self._name = name
        self._queue_size = queue_size
        self._request_keyframe = request_keyframe
        self._queue: queue.Queue | None = None
        self._worker: Worker | None = None
        self._drops_unreported = 0
        self._drop_logged_mono = -DROP_LOG_PERIOD_S
        self.overflowed = 0  # counted on the encoder's thread
        self.skipped = 0  # counted on the delivery thread
        self._next_index = 0
        self._last_pts_us: int | None = None
        self._headers = b""  # the SPS/PPS of the latest IDR
        self._pending = b""  # a buffer of parameter sets waiting for its IDR
        self._seen_keyframe = False
        self._resync = False  # packets were dropped: skipping to the next IDR

    @property
    def dropped(self) -> int:
        """Buffers dropped, by overflow or while waiting for an IDR after one."""
        return self.overflowed + self.skipped

    def start(
        self, on_packet: PacketSink, stopping: threading.Event, on_error: ErrorHandler
    ) -> None:
        """Start delivering to ``on_packet`` until ``stopping`` is set.

        Args:
            on_packet: The camera's packet sink.
            stopping: The camera's stop event; the thread ends soon after it is set.
            on_error: ``(thread name, exception)`` when ``on_packet`` raises; the thread
                then ends.
        """
        self._headers = self._pending = b""
        self._seen_keyframe = self._resync = False
        self._drops_unreported = 0
        packets: queue.Queue = queue.Queue(maxsize=self._queue_size)
        self._queue = packets
        self._worker = Worker(
            self._run,
            f"camera-{self._name}-deliver",
            args=(packets, on_packet, stopping),
            on_error=on_error,
        ).start()

    def stop(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the thread (the camera's stop event is set)."""
        worker, self._worker = self._worker, None
        self._queue = None
        if worker is not None and not worker.join(timeout_s):
            log.error(
                "camera %s: on_packet did not return within %.0f s of stop",
                self._name,
                timeout_s,
            )

    def put(self, frame: Any, keyframe: bool, pts_us: int) -> None:
        """Queue a copy of an encoder's buffer (encoder's thread); never blocks."""
        packets = self._queue
        if packets is None:
            return
        try:
            packets.put_nowait((bytes(frame), keyframe, pts_us, self._drops_unreported))
        except queue.Full:
            self._drops_unreported += 1
            self.overflowed += 1
            if self._drops_unreported == 1:
                self._request_keyframe()  # delivery resumes at an IDR: ask for one now
            return
        self._drops_unreported = 0

    def _run(self, packets: queue.Queue, on_packet: PacketSink, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                data, flag, pts_us, dropped_before = packets.get(timeout=0.1)
            except queue.Empty:
                continue
            if stopping.is_set():
                return
            if dropped_before:
                self._dropped()
            packet = self._packet(data, flag, pts_us)
            if packet is not None:
                on_packet(packet)

    def _dropped(self) -> None:
        now = time.monotonic()
        if now - self._drop_logged_mono >= DROP_LOG_PERIOD_S:
            self._drop_logged_mono = now
            log.warning(
                "camera %s: on_packet too slow, %d packets dropped so far",
                self._name,
                self.dropped,
            )
        self._seen_keyframe = False  # the stream broke: restart at an IDR
        self._resync = True
        self._pending = b""

    def _packet(self, data: bytes, flag: bool, pts_us: int) -> EncodedPacket | None:
        """One encoded buffer as a packet, by the IDR rule; None when it is not one."""
        types = nal_types(data)
        if NAL_IDR not in types and NAL_SLICE not in types:
            if NAL_SPS in types or NAL_PPS in types:  # SPS and PPS may come one by one
                keep = len(self._pending) < PENDING_MAX_BYTES
                self._pending = self._pending + data if keep else data
            return None  # no picture: nothing to deliver yet
        if self._pending:
            data, self._pending = self._pending + data, b""
            types = nal_types(data)
        keyframe = NAL_IDR in types
        if keyframe:
            if NAL_SPS in types and NAL_PPS in types:
                self._headers = parameter_sets(data)
            elif self._headers:
                data = self._headers + data
            else:
                keyframe = False  # no SPS/PPS known yet: it cannot start a segment
        if flag and not keyframe:
            log.debug("encoder flagged a buffer without an IDR as a keyframe")
        if not self._seen_keyframe:
            if not keyframe:
                self.skipped += int(self._resync)
                return None  # a segment must start on an IDR with its SPS/PPS
            self._seen_keyframe = True
            self._resync = False
        if self._last_pts_us is not None and pts_us <= self._last_pts_us:
            pts_us = self._last_pts_us + 1
        packet = EncodedPacket(data, pts_us, keyframe, self._next_index)
        self._last_pts_us = pts_us
        self._next_index += 1
        return packet
