"""Fragmented-MP4 helpers: write a segment, and recover one a crash left open.

A segment is written with ``frag_keyframe+empty_moov+default_base_moof``: a ``moov``
with no samples, then one ``moof`` + ``mdat`` pair per keyframe interval. After a crash
or power cut the file holds every complete fragment and a torn last one; recovery cuts
the torn tail so the file ends on a fragment boundary and every player reads it whole.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av

from appliance.media.fragments import boxes
from appliance.media.header import patch_duration, patch_file_duration
from appliance.media.stream_copy import mux_stream
from appliance.ports import PTS_PER_SECOND, CameraInfo, EncodedPacket

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_US = Fraction(1, PTS_PER_SECOND)
_TIME_BASE = Fraction(1, 90_000)


class SegmentWriter:
    """One open segment: packets in, a fragmented MP4 out, synced to disk per fragment.

    Timestamps are rebased so the segment starts at zero. The muxer keeps the open
    fragment in memory and writes it out when the next fragment begins: when a keyframe is
    muxed, or after ``max_fragment_s`` without one (a late keyframe). Right after the mux
    that wrote a fragment out, the file is synced (``fdatasync``), so a power cut loses at
    most the fragment being written: one keyframe interval.

    Args:
        path: The file to write (created).
        info: The camera's stream description.
        first: The first packet; must be a keyframe.
        max_fragment_s: Longest fragment when keyframes are late (the muxer's
            ``frag_duration``); None leaves fragments to the keyframes alone.
        sync: Makes a file descriptor's data durable (``os.fdatasync``); injectable so a
            test can note what each sync made durable.
        created_wall_s: When the first frame was taken (epoch seconds, UTC): the file's
            creation time (``mvhd``, ``tkhd``, ``mdhd``), which exiftool shows as
            CreateDate and mediainfo as Encoded date; None: now.
        comment: Text for the file's comment tag (the simulation's provenance, for tests);
            None writes none.
    """

    def __init__(
        self,
        path: str,
        info: CameraInfo,
        first: EncodedPacket,
        *,
        max_fragment_s: float | None = None,
        sync: Callable[[int], None] = os.fdatasync,
        created_wall_s: float | None = None,
        comment: str | None = None,
    ) -> None:
        if not first.keyframe:
            raise ValueError("a segment must start with a keyframe")
        self.path = path
        self.first = first
        self.last = first
        self.frames = 0
        self._frame_us = PTS_PER_SECOND / info.fps
        self._sync = sync
        self._synced_bytes = 0
        self._dir_synced = False
        options = {"movflags": MOVFLAGS, "flush_packets": "1"}
        if max_fragment_s is not None:
            if not 0 < max_fragment_s < 3600:
                raise ValueError(f"max_fragment_s must be in (0, 3600), got {max_fragment_s!r}")
            options["frag_duration"] = str(round(max_fragment_s * PTS_PER_SECOND))
        # Created here, never through a symlink or over an existing file; av then writes
        # the same inode, and this descriptor syncs it (and patches its header at close).
        self._container = None
        self._sync_fd = os.open(
            path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
        try:
            self._container = av.open(path, "w", format="mp4", options=options)
            # Set before the header is written (at the first mux): PyAV 14.2 to 18.1 write
            # it into mvhd, tkhd and mdhd of the empty moov too.
            self._container.metadata["creation_time"] = utc_iso(
                time.time() if created_wall_s is None else created_wall_s
            )
            if comment:
                self._container.metadata["comment"] = comment
            self._stream = mux_stream(
                self._container,
                info.codec,
                rate=info.fps,
                width=info.width,
                height=info.height,
                keyframe=first.data,
                time_base=_TIME_BASE,
            )
            self.write(first)
        except BaseException:
            self._abandon()
            raise

    @property
    def duration_s(self) -> float:
        """Seconds covered so far: first to last frame plus one frame interval."""
        return (self.last.pts_us - self.first.pts_us + self._frame_us) / PTS_PER_SECOND

    def write(self, packet: EncodedPacket) -> None:
        """Mux one packet; if that wrote a fragment out, make it durable before returning."""
        pkt = av.Packet(packet.data)
        pkt.pts = pkt.dts = packet.pts_us - self.first.pts_us
        pkt.time_base = _US
        pkt.stream = self._stream
        pkt.is_keyframe = packet.keyframe
        self._container.mux_one(pkt)
        self.last = packet
        self.frames += 1
        # With flush_packets=1 the bytes of a finished fragment reach the file within
        # this mux; one fstat per frame tells whether they did.
        size = os.fstat(self._sync_fd).st_size
        if self.frames == 1:
            # Only the header so far: it is synced with the first fragment, so opening a
            # segment never waits for the card.
            self._synced_bytes = size
        elif size != self._synced_bytes:
            self._sync(self._sync_fd)
            self._synced_bytes = size
            if not self._dir_synced:  # the new file's name survives a cut too
                _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
                self._dir_synced = True

    def close(self) -> None:
        """Write the last fragment and the clip's length into its header, sync and close.
        Safe to call twice.

        The header is patched (:func:`appliance.media.header.patch_duration`) before the
        one last sync, which makes both durable: a rollover waits for no extra sync.
        """
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            container.close()
            try:
                patch_duration(self._sync_fd, self.duration_s)
            except OSError as exc:  # the card: the sync below says so
                log.warning("%s: header not patched: %s", self.path, exc)
        finally:
            try:
                self._sync(self._sync_fd)
            finally:
                os.close(self._sync_fd)
                self._sync_fd = -1

    def _abandon(self) -> None:
        """Close what ``__init__`` opened after a failure there (the caller raises)."""
        container, self._container = self._container, None
        try:
            if container is not None:
                container.close()
        except Exception as exc:  # noqa: BLE001 - the first failure is the one raised
            log.warning("closing %s after a failed open failed too: %s", self.path, exc)
        if self._sync_fd >= 0:
            os.close(self._sync_fd)
            self._sync_fd = -1


def utc_iso(wall_s: float) -> str:
    """``wall_s`` as the ISO 8601 UTC text FFmpeg takes for ``creation_time``."""
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall_s))
    except (OverflowError, OSError, ValueError):
        stamp = "1970-01-01T00:00:00"
    return f"{stamp}.000000Z"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery found in a left-over partial file."""

    frames: int
    duration_s: float
    cut_bytes: int  # torn tail removed


def complete_length(path: str) -> int:
    """Length of the longest prefix of ``path`` that ends on a complete top-level box
    after which the file is still readable: ftyp, moov, then whole moof+mdat pairs."""
    good = 0
    pending_moof = False
    with open(path, "rb") as fh:
        for box_type, pos, _, box_size in boxes(fh, 0, fh.seek(0, os.SEEK_END)):
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
        patch_file_duration(path, duration)  # the length of what is left, in its header
        return Recovered(frames=frames, duration_s=duration, cut_bytes=size - good)
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
        log.warning("recovery of %s failed: %s", path, exc)
        return None


def thumbnail_jpeg(keyframe: bytes, width: int = 320) -> bytes:
    """Decode one H.264 keyframe (Annex B) and return a JPEG ``width`` pixels wide."""

    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1  # one picture: frame threads would only cost memory
    frames = decoder.decode(av.Packet(keyframe)) or decoder.decode(None)
    if not frames:
        raise ValueError("keyframe did not decode")
    return _jpeg(frames[0], width)


def _jpeg(frame: av.VideoFrame, width: int) -> bytes:
    import io

    height = max(2, round(frame.height * width / frame.width) // 2 * 2)
    # Scale in swscale straight from YUV: no full-size RGB picture is ever made.
    image = frame.reformat(width=width, height=height, format="rgb24").to_image()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def probe_duration(path: str) -> float | None:
    """Seconds a clip on the card covers, from its fragment headers; None if unreadable."""
    try:
        with av.open(path) as container:
            if container.duration is None or container.duration <= 0:
                return None
            return container.duration / av.time_base
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        log.warning("probing %s failed: %s", path, exc)
        return None


def file_thumbnail_jpeg(path: str, width: int = 320) -> bytes:
    """A JPEG ``width`` pixels wide of the first keyframe of the clip at ``path``.

    Raises:
        ValueError: no keyframe in the file decodes.
    """
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # one picture
            for packet in container.demux(stream):
                if packet.size and packet.is_keyframe:
                    frames = stream.codec_context.decode(packet) or stream.codec_context.decode(
                        None
                    )
                    if frames:
                        return _jpeg(frames[0], width)
                    break
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    raise ValueError(f"{path}: no keyframe decodes")
