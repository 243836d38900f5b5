"""Fragmented-MP4 helpers: write a segment, and recover one a crash left open.

A segment is written with ``frag_keyframe+empty_moov+default_base_moof``: a ``moov``
with no samples, then one ``moof`` + ``mdat`` pair per keyframe interval. After a crash
or power cut the file holds every complete fragment and a torn last one; recovery cuts
the torn tail so the file ends on a fragment boundary and every player reads it whole.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from fractions import Fraction

import av

from appliance.ports import PTS_PER_SECOND, CameraInfo, EncodedPacket

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_US = Fraction(1, PTS_PER_SECOND)
_TIME_BASE = Fraction(1, 90_000)


class SegmentWriter:
    """One open segment: packets in, a fragmented MP4 out, synced to disk per fragment.

    Timestamps are rebased so the segment starts at zero. After each keyframe the
    previous fragment is complete on disk (``fdatasync``), so a power cut loses at most
    the fragment being written: one keyframe interval.
    """

    def __init__(self, path: str, info: CameraInfo, first: EncodedPacket) -> None:
        if not first.keyframe:
            raise ValueError("a segment must start with a keyframe")
        self.path = path
        self.first = first
        self.last = first
        self.frames = 0
        self._frame_us = PTS_PER_SECOND / info.fps
        self._container = av.open(
            path,
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS, "flush_packets": "1"},
        )
        # Provenance: which camera frames this file holds (diagnostics, tests).
        self._container.metadata["comment"] = (
            f"first_frame={first.frame_index} first_pts_us={first.pts_us}"
        )
        try:
            self._stream = self._container.add_mux_stream(
                info.codec, rate=info.fps, width=info.width, height=info.height
            )
            self._stream.time_base = _TIME_BASE
            self._sync_fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)  # same inode av writes
        except BaseException:
            self._container.close()
            raise
        self.write(first)

    @property
    def duration_s(self) -> float:
        """Seconds covered so far: first to last frame plus one frame interval."""
        return (self.last.pts_us - self.first.pts_us + self._frame_us) / PTS_PER_SECOND

    def write(self, packet: EncodedPacket) -> None:
        if packet.keyframe and self.frames:
            # The fragment before this keyframe has just been written: make it durable.
            os.fdatasync(self._sync_fd)
        pkt = av.Packet(packet.data)
        pkt.pts = pkt.dts = packet.pts_us - self.first.pts_us
        pkt.time_base = _US
        pkt.stream = self._stream
        pkt.is_keyframe = packet.keyframe
        self._container.mux_one(pkt)
        self.last = packet
        self.frames += 1

    def close(self) -> None:
        """Write the last fragment, sync and close. Safe to call twice."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            container.close()
        finally:
            os.fsync(self._sync_fd)
            os.close(self._sync_fd)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery found in a left-over partial file."""

    frames: int
    duration_s: float
    cut_bytes: int  # torn tail removed


def provenance(path: str) -> tuple[int, int] | None:
    """The (first frame index, first camera pts in µs) a segment was written with."""
    with av.open(path) as container:
        fields = dict(
            part.split("=", 1)
            for part in container.metadata.get("comment", "").split()
            if "=" in part
        )
    try:
        return int(fields["first_frame"]), int(fields["first_pts_us"])
    except (KeyError, ValueError):
        return None


def complete_length(path: str) -> int:
    """Length of the longest prefix of ``path`` that ends on a complete top-level box
    after which the file is still readable: ftyp, moov, then whole moof+mdat pairs."""
    size = os.path.getsize(path)
    good = 0
    pos = 0
    pending_moof = False
    with open(path, "rb") as fh:
        while pos + 8 <= size:
            fh.seek(pos)
            header = fh.read(16)
            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) >= 16:
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:
                box_size = size - pos
            if box_size < 8 or pos + box_size > size:
                break
            pos += box_size
            if box_type == b"moof":
                pending_moof = True
            elif box_type == b"mdat":
                if pending_moof:
                    good = pos
                pending_moof = False
            elif box_type in (b"ftyp", b"moov"):
                good = pos
            elif not pending_moof:
                good = pos  # mfra, free, ...: harmless once complete
    return good


def recover(path: str) -> Recovered | None:
    """Cut a crashed segment's torn tail and check what is left decodes.

    Returns:
        What was recovered, or ``None`` when not one frame decodes (the caller moves the
        file aside).
    """
    try:
        size = os.path.getsize(path)
        good = complete_length(path)
        if good < size:
            with open(path, "r+b") as fh:
                fh.truncate(good)
                os.fsync(fh.fileno())
        frames, first, last = 0, None, None
        with av.open(path) as container:
            stream = container.streams.video[0]
            decoder = None
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                if decoder is None:
                    # Decode the first keyframe only: proof the stream is readable.
                    decoder = stream.codec_context
                    if not decoder.decode(packet) and not decoder.decode(None):
                        return None
                frames += 1
                first = packet.pts if first is None else first
                last = packet.pts
            if not frames:
                return None
            span = float((last - first) * stream.time_base)
            duration = span + (span / (frames - 1) if frames > 1 else 0.0)
        return Recovered(frames=frames, duration_s=duration, cut_bytes=size - good)
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
        log.warning("recovery of %s failed: %s", path, exc)
        return None


def thumbnail_jpeg(keyframe: bytes, width: int = 320) -> bytes:
    """Decode one H.264 keyframe (Annex B) and return a JPEG ``width`` pixels wide."""
    import io

    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1  # one picture: frame threads would only cost memory
    frames = decoder.decode(av.Packet(keyframe)) or decoder.decode(None)
    if not frames:
        raise ValueError("keyframe did not decode")
    frame = frames[0]
    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    # Scale in swscale straight from YUV: no full-size RGB picture is ever made.
    image = frame.reformat(width=width, height=height, format="rgb24").to_image()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()
