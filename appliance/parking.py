"""The parking gate: between the camera's packets and the recorder.

The camera hands every packet to :meth:`ParkingGate.put` (instead of the recorder's
``put``). Driving, the gate passes them on. Parked, they go into the RAM ring
(:class:`~appliance.packet_ring.PacketRing`) and nothing is written. A parking clip takes
the ring's packets from the keyframe a pre-roll before its trigger, then the live packets,
until the controller ends it; leaving parking takes the ring's packets from its last
keyframe, so loop recording goes on with no frame lost.

The controller asks (:meth:`park`, :meth:`start_clip`, :meth:`end_clip`, :meth:`leave`)
from its thread; a request that needs the ring flushed is applied by the camera's thread
at the next packet, under the gate's lock, after the recorder's start command was queued.
An exception in the gate is logged and the packet still reaches the recorder unless the
car is parked: the ring never takes the recording down.

:class:`MotionWatch` turns the camera's small grey frames into ``PARKING_TRIGGER`` events.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.config import Config
from appliance.motion import PERSIST_FRAMES, MotionDetector
from appliance.packet_ring import PacketRing, ring_bounds
from appliance.ports import PTS_PER_SECOND, EncodedPacket

if TYPE_CHECKING:
    import numpy as np

    from appliance.recorder import Recorder

log = logging.getLogger(__name__)

#: The ring holds this much more than the pre-roll (and the motion detector's delay, see
#: :func:`ring_keep_s`): a trigger reaches the camera thread a moment after the frame it
#: came from, and the clip still starts a full pre-roll before that frame.
RING_SLACK_S = 1.5
#: Most motion frames a second looked at.
MOTION_FPS = 5.0
#: While motion goes on, at most one trigger is posted this often (each one extends the
#: clip by the post-roll).
MOTION_REPOST_S = 1.0


class Mode(enum.Enum):
    PASS = "pass"  # driving: every packet to the recorder
    RING = "ring"  # parked: every packet to the ring
    CLIP = "clip"  # parked, writing a clip: to the ring and the recorder


def ring_keep_s(config: Config) -> float:
    """Seconds the ring keeps: the pre-roll, :data:`RING_SLACK_S`, and the motion frames a
    change takes to count (it is anchored at the last still frame before it)."""
    motion_fps = min(MOTION_FPS, float(config.parking_fps))
    return config.parking_preroll_s + RING_SLACK_S + (PERSIST_FRAMES + 1) / motion_fps


def gsensor_threshold_g(config: Config, parked: bool) -> float:
    """The G-sensor's impact threshold for the mode: lower while parked."""
    return config.parking_gsensor_threshold_g if parked else config.gsensor_threshold_g


class ParkingGate:
    """Passes the camera's packets to the recorder, or keeps them in a ring while parked.

    Args:
        recorder: Where packets go (its ``put`` and ``put_backlog``).
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._lock = threading.Lock()
        self._mode = Mode.PASS
        self._ring: PacketRing | None = None
        self._preroll_s = 0.0
        # A flush the camera thread does at the next packet: (anchor_us, before_s), or
        # None for "from the last keyframe"; then the mode to go on in.
        self._pending: tuple[tuple[int | None, float] | None, Mode] | None = None
        self._newest_us: int | None = None
        self._failing = False
        #: Packets flushed from the ring into the recorder, in all.
        self.flushed = 0
        #: The first packet of the last flush (its frame index and pts), for the status.
        self.last_flush_first: EncodedPacket | None = None

    @property
    def mode(self) -> Mode:
        return self._mode

    def put(self, packet: EncodedPacket) -> None:
        """The camera's packet sink (the camera's thread). Never blocks, never raises."""
        try:
            with self._lock:
                if self._pending is not None:
                    self._apply_pending()
                mode = self._mode
                if mode is not Mode.PASS and self._ring is not None:
                    self._ring.push(packet)
                    self._newest_us = packet.pts_us
            if self._failing:
                self._failing = False
                log.info("parking gate: working again")
        except Exception:  # noqa: BLE001 - the ring is never worth the recording
            mode = self._mode
            if not self._failing:
                self._failing = True
                log.exception("parking gate failed; packets %s", self._fallback(mode))
        if mode is not Mode.RING:
            self._recorder.put(packet)

    @staticmethod
    def _fallback(mode: Mode) -> str:
        return "go on to the recorder" if mode is not Mode.RING else "are not kept"

    def _apply_pending(self) -> None:
        """Flush the ring into the recorder as asked, then change mode (lock held)."""
        flush, mode = self._pending  # type: ignore[misc]
        self._pending = None
        ring = self._ring
        packets: list[EncodedPacket] = []
        if ring is not None:
            packets = ring.from_last_keyframe() if flush is None else ring.since(*flush)
        if packets:
            self._recorder.put_backlog(packets)
            self.flushed += len(packets)
            self.last_flush_first = packets[0]
            log.info(
                "parking: %d packets from the ring (frame %d on, %.1f s)",
                len(packets),
                packets[0].frame_index,
                (packets[-1].pts_us - packets[0].pts_us) / PTS_PER_SECOND,
            )
        self._mode = mode
        if mode is Mode.PASS:
            self._ring = None
            self._newest_us = None

    # --- the controller's requests -------------------------------------------------

    def park(self, config: Config) -> None:
        """From now on keep packets in a ring sized for ``config``'s parking rate."""
        preroll_s, keep_s = config.parking_preroll_s, ring_keep_s(config)
        max_bytes, max_packets = ring_bounds(
            keep_s, config.parking_bitrate, max(config.parking_fps, 1)
        )
        # The camera takes the parking rate at its next keyframe: a second or so at the
        # driving rate comes first, which the packet bound must take too.
        max_packets += config.video_fps * 2
        with self._lock:
            self._pending = None
            self._ring = PacketRing(keep_s, max_bytes, max_packets)
            self._preroll_s = preroll_s
            self._newest_us = None
            self._mode = Mode.RING

    def start_clip(self, anchor_us: int | None = None) -> None:
        """Write a clip: the ring's packets from the keyframe a pre-roll before
        ``anchor_us`` (the trigger's frame; None: the newest packet now), then the live
        ones. Call after the recorder's start was queued."""
        with self._lock:
            if self._ring is None:
                return
            if anchor_us is None or (self._newest_us is not None and anchor_us > self._newest_us):
                anchor_us = self._newest_us
            self._pending = ((anchor_us, self._preroll_s), Mode.CLIP)

    def end_clip(self) -> None:
        """Stop writing the clip; packets go on into the ring (at once)."""
        with self._lock:
            if self._pending is not None:  # the clip never started: nothing to flush
                self._pending = None
            if self._mode is Mode.CLIP:
                self._mode = Mode.RING

    def leave(self, flush: bool) -> None:
        """Back to driving. ``flush``: the ring's packets from its last keyframe go to the
        recorder first (call after the recorder's start was queued); else the packets just
        go on (a clip was being written: the recorder has every packet already)."""
        with self._lock:
            if self._ring is None:
                self._mode, self._pending = Mode.PASS, None
            elif flush:
                self._pending = (None, Mode.PASS)
            else:
                self._pending = None
                self._mode, self._ring, self._newest_us = Mode.PASS, None, None

    def ring_status(self) -> dict[str, Any] | None:
        """The ring's seconds, bytes and packets now; None when not parked."""
        with self._lock:
            ring = self._ring
            if ring is None:
                return None
            return {
                "ring_s": round(ring.span_s, 2),
                "ring_bytes": ring.bytes,
                "ring_packets": len(ring),
                "ring_max_bytes": ring.max_bytes,
            }

    @property
    def ring(self) -> PacketRing | None:
        """The ring (tests and the bench read its bound)."""
        return self._ring


class MotionWatch:
    """Motion frames (the camera's motion sink) to parking triggers.

    Args:
        detector: What a frame means.
        post: Called with ``{"why": "motion", "pts_us": ...}`` when motion is seen (at
            most every :data:`MOTION_REPOST_S` of the frames' time). ``pts_us`` is the
            last frame before the change began (the change came after it: the pre-roll
            counts from there, not from the frame that confirmed it).
    """

    def __init__(self, detector: MotionDetector, post: Callable[[dict[str, Any]], None]) -> None:
        self.detector = detector
        self._post = post
        self._last_post_us: int | None = None
        self._prev_us: int | None = None  # the frame before this one
        self._still_us: int | None = None  # the last frame before the current change
        self._failing = False
        self.frames = 0
        self.triggers = 0

    def __call__(self, frame: np.ndarray, pts_us: int) -> None:
        """The camera's motion sink (a camera thread). Never raises."""
        try:
            self.frames += 1
            prev, self._prev_us = self._prev_us, pts_us
            moving = self.detector.feed(frame)
            if self.detector.run_frames == 1:  # a change begins in this frame
                self._still_us = prev if prev is not None else pts_us
            if not moving:
                return
            last = self._last_post_us
            if last is not None and pts_us - last < MOTION_REPOST_S * PTS_PER_SECOND:
                return
            self._last_post_us = pts_us
            self.triggers += 1
            anchor = self._still_us if self._still_us is not None else pts_us
            self._post({"why": "motion", "pts_us": anchor})
        except Exception:  # noqa: BLE001 - motion is never worth the camera
            if not self._failing:
                self._failing = True
                log.exception("motion detection failed")
