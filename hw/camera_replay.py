"""Replay camera: the H.264 packets of an MP4 file, as a camera would deliver them.

Packets are stream-copied (never re-encoded) and converted to Annex B with SPS/PPS in-line
at each keyframe by the ``h264_mp4toannexb`` bitstream filter. They are paced by their
timestamps (or sent as fast as possible), and the file may loop; ``pts_us`` and
``frame_index`` keep increasing across loops.

:meth:`ReplayCamera.request_keyframe` cannot force anything: the next keyframe of the file
answers it, so ``max_keyframe_delay_s`` is the file's longest keyframe gap. Stills and
preview decode the current GOP (from its keyframe up to the latest delivered packet); the
preview decoder runs only while a preview sink is set.
"""

from __future__ import annotations

import os
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.bitstream import BitStreamFilterContext

from appliance.errors import CameraError
from appliance.ports import PTS_PER_SECOND, EncodedPacket
from hw.camera_base import ThreadedCamera, stream_info

_PREVIEW_MAX = (640, 360)
_PREVIEW_FPS = 10

#: One delivered packet kept for stills and preview: (Annex B bytes, pts_us).
_GopEntry = tuple[bytes, int]


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

    Attributes:
        keyframe_interval_s: Longest keyframe gap of the file (across the loop seam too).
        max_keyframe_delay_s: Same as ``keyframe_interval_s``: a request waits for the
            file's next keyframe.
        preview_frames_encoded: Preview JPEGs encoded so far.
        ended: Set when the file ended without ``loop``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CameraError: The file has no H.264 video stream, B-frames, or no leading keyframe.
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
    ) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise FileNotFoundError(f"no such file: {self._path}")
        width, height, fps, loop_us, max_gap_us = self._scan()
        if preview_width is None or preview_height is None:
            preview_width, preview_height = _fit_even(width, height, *_PREVIEW_MAX)
        if preview_fps is None:
            preview_fps = min(_PREVIEW_FPS, fps)
        preview = (preview_width, preview_height, preview_fps)
        info = stream_info(name, (width, height), fps, preview=preview)
        super().__init__(info, preview_fps, fail_after_frames)
        self._loop_us = loop_us
        self.keyframe_interval_s = max_gap_us / PTS_PER_SECOND
        self.max_keyframe_delay_s = self.keyframe_interval_s
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
        self.ended = threading.Event()

    def request_keyframe(self) -> None:
        """Nothing to force in a recording: the file's next keyframe serves the request."""

    def _scan(self) -> tuple[int, int, int, int, int]:
        """Check the file and measure it: (width, height, fps, loop_us, max_gap_us)."""
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
        self._first_us: int = first_us
        return width, height, fps, loop_us, max_gap_us

    def _run(self) -> None:
        base_index = self._next_index
        start_mono_s = time.monotonic()
        base_us = int(start_mono_s * PTS_PER_SECOND)
        if self._last_pts_us is not None:
            base_us = max(base_us, self._last_pts_us + 1)
        index = base_index
        loop_index = 0
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
                    if keyframe:
                        self._gop = []
                        self._gop_id += 1
                    gop, gop_id = self._gop, self._gop_id
                    gop.append((data, pts_us))
                    count = len(gop)
                    self._last_pts_us = pts_us
                    self._next_index = index + 1
                    self._deliver(
                        EncodedPacket(data, pts_us, keyframe, index),
                        lambda g=gop, i=gop_id, n=count: (i, g, n),
                    )
                    index += 1
                if not self._loop:
                    self.ended.set()
                    return
                loop_index += 1
                container.seek(0, stream=stream)  # loop without reopening the file

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

    def _still_frame(self, item: tuple[int, list[_GopEntry], int]) -> av.VideoFrame:
        _, gop, count = item
        decoder = av.CodecContext.create("h264", "r")
        frame = self._decode(decoder, gop[:count])
        for frame in decoder.decode(None):  # noqa: B007 - drain delayed frames
            pass
        if frame is None:
            raise CameraError("the current GOP decoded to no picture")
        return frame

    def _preview_frame(self, item: tuple[int, list[_GopEntry], int]) -> tuple[av.VideoFrame, int]:
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

    def _close(self) -> None:
        self._preview_decoder = None
        self._preview_last = None
        self._preview_gop_id = -1
