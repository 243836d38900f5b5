"""Replay camera: the H.264 video of an MP4 file, as a camera would deliver it.

Packets are converted to Annex B with SPS/PPS in-line at each keyframe by the
``h264_mp4toannexb`` bitstream filter. They are paced by their timestamps (or sent as fast
as possible), and the file may loop; ``pts_us`` and ``frame_index`` keep increasing across
loops.

Without an overlay the packets are stream-copied, byte for byte.
:meth:`ReplayCamera.request_keyframe` cannot force anything then: the next keyframe of the
file answers it, so ``max_keyframe_delay_s`` is the file's longest keyframe gap. Stills and
preview decode the current GOP (from its keyframe up to the latest delivered packet); the
preview decoder runs only while a preview sink is set.

With an overlay (as the simulated camera and the Pi draw it) each packet is decoded, the
date and time at its delivery are drawn on the picture, and the picture is encoded again
by libx264 as the simulated camera encodes (:mod:`hw.camera.x264`), at the file's average
bit rate: one packet per frame, an IDR where the file has a keyframe and on
:meth:`ReplayCamera.request_keyframe`. The decoder keeps the picture as the reference for
the next frames, so the pixels under the text are put back after encoding. Stills and
preview are copies of the drawn picture. This costs a decode and an encode per frame
(``tests/bench/replay_overlay.py``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
from av.bitstream import BitStreamFilterContext

from appliance.errors import CameraError
from appliance.overlay import Overlay
from appliance.ports import PTS_PER_SECOND, EncodedPacket
from hw.camera.base import MAX_BITRATE, MIN_BITRATE, ThreadedCamera, stream_info
from hw.camera.x264 import copy_frame, encode_frame, open_x264, plane_view

log = logging.getLogger(__name__)

_PREVIEW_MAX = (640, 360)
_PREVIEW_FPS = 10

#: One delivered packet kept for stills and preview: (Annex B bytes, pts_us).
_GopEntry = tuple[bytes, int]


class _Drawn(NamedTuple):
    """A still or preview item with the overlay on: a copy of the drawn picture."""

    frame: av.VideoFrame
    pts_us: int


def _fit_even(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest even size within the bounds with the aspect ratio of width x height."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, int(width * scale) & ~1), max(2, int(height * scale) & ~1)


class ReplayCamera(ThreadedCamera):
    """A camera that replays the H.264 video of an MP4 file.

    Args:
        path: An MP4 (or any container PyAV reads) holding an H.264 video stream without
            B-frames (timestamps strictly increasing in decode order), starting with a
            keyframe.
        realtime: Pace packets by their timestamps; ``False`` sends them as fast as
            possible.
        loop: Start over at the end of the file. Without it the capture thread ends after
            the last packet and :attr:`ended` is set; that is not reported as an error.
        name: Camera name (``info.name``, thread names).
        preview_width: Preview JPEG width; default the video size fitted into 640x360.
        preview_height: Preview JPEG height; see ``preview_width``.
        preview_fps: Most preview JPEGs per second, up to the file's frame rate; default
            10, or the file's frame rate if lower.
        fail_after_frames: Test hook: raise a :class:`CameraError` in the capture thread
            after this many packets.
        overlay: Burns the date and time into each frame (decoded and encoded again);
            None: the packets are stream-copied. Also settable as :attr:`overlay` before
            ``start`` (the file's size is known from :attr:`info` then).
        overlay_for_size: Makes the overlay for the file's width and height once it is
            scanned, when ``overlay`` is None (the composition root does not know the size).
        wall: The wall clock the overlay shows, read at each frame's delivery.

    Attributes:
        keyframe_interval_s: Longest keyframe gap of the file (across the loop seam too).
        preview_frames_encoded: Preview JPEGs encoded so far.
        ended: Set when the file ended without ``loop``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CameraError: The file has no H.264 video stream, B-frames, or no leading keyframe.
        ValueError: The overlay is for pictures of another size.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        realtime: bool = True,
        loop: bool = True,
        name: str = "replay",
        *,
        preview_width: int | None = None,
        preview_height: int | None = None,
        preview_fps: float | None = None,
        fail_after_frames: int | None = None,
        overlay: Overlay | None = None,
        overlay_for_size: Callable[[int, int], Overlay | None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise FileNotFoundError(f"no such file: {self._path}")
        width, height, fps, loop_us, max_gap_us, bitrate = self._scan()
        if preview_width is None or preview_height is None:
            preview_width, preview_height = _fit_even(width, height, *_PREVIEW_MAX)
        if preview_fps is None:
            preview_fps = min(_PREVIEW_FPS, fps)
        preview = (preview_width, preview_height, preview_fps)
        info = stream_info(name, (width, height), fps, preview=preview)
        super().__init__(info, preview_fps, fail_after_frames)
        self._loop_us = loop_us
        self.keyframe_interval_s = max_gap_us / PTS_PER_SECOND
        self._gop_frames = max(1, math.ceil(max_gap_us * fps / PTS_PER_SECOND))
        self._bitrate = bitrate
        self._overlay: Overlay | None = None
        if overlay is None and overlay_for_size is not None:
            overlay = overlay_for_size(width, height)  # the size is known once scanned
        self.overlay = overlay
        self._wall = wall
        self._encoder: av.VideoCodecContext | None = None
        self._decoder: Any = None
        self._keyframe_requested = False
        self._overlay_failed = False
        self._realtime = realtime
        self._loop = loop
        self._next_index = 0
        self._last_pts_us: int | None = None
        self._gop: list[_GopEntry] = []
        self._gop_id = 0
        self._preview_decoder: Any = None
        self._preview_gop_id = -1
        self._preview_done = 0
        self._preview_last: tuple[av.VideoFrame, int] | None = None
        self._overlay_of_run: Overlay | None = None
        self.ended = threading.Event()

    @property
    def overlay(self) -> Overlay | None:
        """The overlay drawn from the next ``start`` on (its ``extra`` may change live)."""
        return self._overlay

    @overlay.setter
    def overlay(self, overlay: Overlay | None) -> None:
        info = self._info
        if overlay is not None and (overlay.width, overlay.height) != (info.width, info.height):
            raise ValueError(
                f"the overlay is for {overlay.width}x{overlay.height} pictures, "
                f"{self._path.name} is {info.width}x{info.height}"
            )
        self._overlay = overlay

    @property
    def max_keyframe_delay_s(self) -> float:  # type: ignore[override]
        """Longest time from :meth:`request_keyframe` to a keyframe: two frames with the
        overlay (the next frame, or the one after if the request races with an encode);
        without it the file's longest keyframe gap."""
        if self._overlay is None:
            return self.keyframe_interval_s
        return 2 / self._info.fps

    def request_keyframe(self) -> None:
        """With the overlay, make the next frame (or the one after) an IDR; without it
        nothing can be forced in a recording: the file's next keyframe serves the request."""
        self._keyframe_requested = True

    def _scan(self) -> tuple[int, int, int, int, int, int]:
        """Check the file and measure it: (width, height, fps, loop_us, max_gap_us,
        bit rate in bits per second)."""
        try:
            container = av.open(str(self._path))
        except av.error.FFmpegError as exc:
            raise CameraError(f"cannot open {self._path.name}: {exc}") from exc
        with container:
            if not container.streams.video:
                raise CameraError(f"{self._path.name} has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context.name != "h264":
                raise CameraError(f"{self._path.name} is {stream.codec_context.name}, not h264")
            tb = stream.time_base
            times_us: list[int] = []
            keys_us: list[int] = []
            last_duration_us = 0
            total_bytes = 0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    raise CameraError(f"{self._path.name}: packet without timestamp")
                t_us = round(ts * tb * PTS_PER_SECOND)
                if not times_us and not packet.is_keyframe:
                    raise CameraError(f"{self._path.name} does not start with a keyframe")
                if times_us and t_us <= times_us[-1]:
                    raise CameraError(
                        f"{self._path.name}: timestamps not increasing in decode order "
                        "(B-frames are not supported)"
                    )
                times_us.append(t_us)
                total_bytes += packet.size
                if packet.is_keyframe:
                    keys_us.append(t_us)
                last_duration_us = round((packet.duration or 0) * tb * PTS_PER_SECOND)
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate
        if not times_us:
            raise CameraError(f"{self._path.name} has no video packets")
        deltas = sorted(b - a for a, b in zip(times_us, times_us[1:], strict=False))
        frame_us = deltas[len(deltas) // 2] if deltas else last_duration_us
        if frame_us <= 0:
            frame_us = round(PTS_PER_SECOND / float(rate)) if rate else PTS_PER_SECOND // 30
        fps = round(float(rate)) if rate else round(PTS_PER_SECOND / frame_us)
        fps = max(1, min(120, fps))
        first_us = times_us[0]
        loop_us = times_us[-1] - first_us + (last_duration_us or frame_us)
        rel_keys = [k - first_us for k in keys_us] + [loop_us]
        max_gap_us = max(b - a for a, b in zip(rel_keys, rel_keys[1:], strict=False))
        bitrate = total_bytes * 8 * PTS_PER_SECOND // loop_us
        self._first_us: int = first_us
        return width, height, fps, loop_us, max_gap_us, min(MAX_BITRATE, max(MIN_BITRATE, bitrate))

    def _run(self) -> None:
        base_index = self._next_index
        start_mono_s = time.monotonic()
        base_us = int(start_mono_s * PTS_PER_SECOND)
        if self._last_pts_us is not None:
            base_us = max(base_us, self._last_pts_us + 1)
        index = base_index
        loop_index = 0
        overlay = self._overlay_of_run
        with av.open(str(self._path)) as container:
            stream = container.streams.video[0]
            bsf = BitStreamFilterContext("h264_mp4toannexb", stream)
            # Integer arithmetic: Fraction maths per packet costs more than the demux.
            tb_num = stream.time_base.numerator * PTS_PER_SECOND
            tb_den = stream.time_base.denominator
            while not self._stop_event.is_set():
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    ts = packet.pts if packet.pts is not None else packet.dts
                    rel_us = (ts * tb_num + tb_den // 2) // tb_den - self._first_us
                    offset_us = loop_index * self._loop_us + rel_us
                    keyframe = packet.is_keyframe
                    outs = bsf.filter(packet)
                    data = bytes(outs[0]) if len(outs) == 1 else b"".join(map(bytes, outs))
                    if self._realtime:
                        delay_s = start_mono_s + offset_us / PTS_PER_SECOND - time.monotonic()
                        if delay_s > 0 and self._stop_event.wait(delay_s):
                            return
                    elif self._stop_event.is_set():
                        return
                    if self._fail_after_frames is not None and index >= self._fail_after_frames:
                        raise CameraError(f"simulated replay failure after {index} frames")
                    pts_us = base_us + offset_us
                    self._last_pts_us = pts_us
                    self._next_index = index + 1
                    if overlay is None:
                        self._copy(data, keyframe, pts_us, index)
                    else:
                        self._redraw(overlay, data, keyframe, pts_us, index, index - base_index)
                    index += 1
                if not self._loop:
                    self.ended.set()
                    return
                loop_index += 1
                container.seek(0, stream=stream)  # loop without reopening the file

    def _copy(self, data: bytes, keyframe: bool, pts_us: int, index: int) -> None:
        """Deliver a packet as it is; keep it in the GOP for stills and preview."""
        if keyframe:
            self._gop = []
            self._gop_id += 1
        gop, gop_id = self._gop, self._gop_id
        gop.append((data, pts_us))
        count = len(gop)
        self._deliver(
            EncodedPacket(data, pts_us, keyframe, index),
            lambda: (gop_id, gop, count),
        )

    def _redraw(
        self, overlay: Overlay, data: bytes, keyframe: bool, pts_us: int, index: int, n: int
    ) -> None:
        """Decode a packet, draw the overlay, encode the picture again and deliver it.

        Args:
            overlay: The overlay of this run.
            data: The packet, Annex B.
            keyframe: The file has a keyframe here.
            pts_us: The frame's timestamp.
            index: The frame's index.
            n: Frames encoded before this one in this run.
        """
        frames = self._decoder.decode(av.Packet(data))
        if len(frames) != 1:
            raise CameraError(
                f"{self._path.name}: frame {index} decoded to {len(frames)} pictures "
                "(the overlay needs one picture per packet, without delay)"
            )
        frame = frames[0]
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        restore = self._draw(overlay, frame)
        try:
            requested = self._keyframe_requested
            if requested:
                self._keyframe_requested = False
            encoded = encode_frame(self._encoder, frame, n, keyframe or requested, index)
            packet = EncodedPacket(bytes(encoded), pts_us, encoded.is_keyframe, index)
            self._deliver(packet, lambda: _Drawn(copy_frame(frame), pts_us))
        finally:
            if restore is not None:  # the decoder predicts the next frames from this one
                restore()

    def _draw(self, overlay: Overlay, frame: av.VideoFrame) -> Callable[[], None] | None:
        """Draw the overlay at the wall clock's time; returns what puts the pixels back.

        A failure is logged once and the frame goes out without the overlay: the
        recording matters more.
        """
        try:
            y, u, v = (plane_view(plane) for plane in frame.planes)
            stamp = overlay.stamp(overlay.text(self._wall()))
            under = stamp.under(y, u, v)
        except Exception as exc:  # noqa: BLE001 - never stop the video for the text
            if not self._overlay_failed:
                self._overlay_failed = True
                log.error("camera %s: the overlay cannot be drawn: %s", self._name, exc)
            return None
        overlay.draw_stamp(y, u, v, stamp)
        return lambda: stamp.put_back(y, u, v, under)

    @staticmethod
    def _decode(decoder: Any, entries: list[_GopEntry]) -> av.VideoFrame | None:
        frame = None
        for data, pts_us in entries:
            packet = av.Packet(data)
            packet.pts = pts_us
            packet.time_base = Fraction(1, PTS_PER_SECOND)
            for frame in decoder.decode(packet):  # noqa: B007 - keep the last one
                pass
        return frame

    def _still_frame(self, item: tuple[int, list[_GopEntry], int] | _Drawn) -> av.VideoFrame:
        if isinstance(item, _Drawn):
            return item.frame
        _, gop, count = item
        decoder = av.CodecContext.create("h264", "r")
        frame = self._decode(decoder, gop[:count])
        for frame in decoder.decode(None):  # noqa: B007 - drain delayed frames
            pass
        if frame is None:
            raise CameraError("the current GOP decoded to no picture")
        return frame

    def _preview_frame(
        self, item: tuple[int, list[_GopEntry], int] | _Drawn
    ) -> tuple[av.VideoFrame, int]:
        if isinstance(item, _Drawn):
            return item.frame, item.pts_us
        gop_id, gop, count = item
        if gop_id != self._preview_gop_id or self._preview_decoder is None:
            self._preview_decoder = av.CodecContext.create("h264", "r")
            self._preview_gop_id, self._preview_done = gop_id, 0
        frame = self._decode(self._preview_decoder, gop[self._preview_done : count])
        self._preview_done = count
        if frame is not None:
            self._preview_last = (frame, frame.pts if frame.pts is not None else gop[count - 1][1])
        if self._preview_last is None:
            raise CameraError("preview decoder gave no picture")
        return self._preview_last

    def _open(self) -> None:
        self.ended.clear()
        self._gop = []
        self._keyframe_requested = False
        self._overlay_of_run = overlay = self._overlay
        if overlay is not None:
            info = self._info
            self._encoder = open_x264(
                info.width, info.height, info.fps, self._bitrate, self._gop_frames
            )
            self._decoder = av.CodecContext.create("h264", "r")

    def _close(self) -> None:
        self._encoder = None
        self._decoder = None
        self._preview_decoder = None
        self._preview_last = None
        self._preview_gop_id = -1
