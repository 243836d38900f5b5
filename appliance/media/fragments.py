"""The layout of a fragmented MP4, read from its boxes.

A clip is ``ftyp`` + ``moov`` (the init segment) then one ``moof`` + ``mdat`` pair per
fragment (one keyframe interval). :func:`read_layout` walks the top-level boxes (a seek and
an 8-byte read each, never the media) and reads each fragment's start and duration from
its ``tfdt``/``tfhd``/``trun`` (ISO/IEC 14496-12), so it works on a clip recovered after a
power cut too, which has no ``mfra`` index. The export sizes its index from it;
:mod:`appliance.media.progressive` reads the fragments' sample tables with :func:`boxes`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Boxes that hold other boxes, on the paths this module reads.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"mvex", b"moof", b"traf"}


class LayoutError(ValueError):
    """The file is not a fragmented MP4 this module can read."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """One ``moof`` + ``mdat`` pair.

    Attributes:
        offset: Byte offset of its ``moof``.
        size: Bytes of ``moof`` and ``mdat`` together.
        start_s: Its first sample's decode time, in seconds.
        duration_s: The sum of its samples' durations, in seconds.
        decode: Its first sample's decode time (``tfdt``), in the track's time units.
        units: The sum of its samples' durations, in the track's time units.
        samples: Its number of samples (frames).
    """

    offset: int
    size: int
    start_s: float
    duration_s: float
    decode: int = 0
    units: int = 0
    samples: int = 0


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a fragmented MP4's parts are.

    Attributes:
        init_size: Bytes of ``ftyp`` + ``moov`` from offset 0 (the init segment).
        timescale: The video track's time units per second.
        fragments: The whole fragments, in file order (a torn last one is left out).
    """

    init_size: int
    timescale: int
    fragments: tuple[Fragment, ...]

    @property
    def duration_s(self) -> float:
        return sum(f.duration_s for f in self.fragments)

    @property
    def samples(self) -> int:
        return sum(f.samples for f in self.fragments)


def boxes(fh: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """The whole boxes between ``start`` and ``end``: (type, offset, header size, size).

    Stops at the first box that is cut off or has an impossible size.
    """
    pos = start
    while pos + 8 <= end:
        fh.seek(pos)
        header = fh.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        head = 8
        if size == 1:
            if len(header) < 16:
                return
            size = struct.unpack(">Q", header[8:16])[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos, head, size
        pos += size


def _find(fh: BinaryIO, start: int, end: int, path: list[bytes]) -> list[tuple[int, int]]:
    """Payload (offset, end) of every box at ``path`` below (start, end)."""
    found: list[tuple[int, int]] = []
    for kind, pos, head, size in boxes(fh, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            found.append((pos + head, pos + size))
        elif kind in _CONTAINERS:
            found += _find(fh, pos + head, pos + size, path[1:])
    return found


def _read(fh: BinaryIO, offset: int, end: int) -> bytes:
    fh.seek(offset)
    return fh.read(end - offset)


def _timescale(fh: BinaryIO, start: int, end: int) -> int:
    for offset, stop in _find(fh, start, end, [b"trak", b"mdia", b"mdhd"]):
        data = _read(fh, offset, stop)
        version = data[0]
        at = 20 if version == 1 else 12
        (timescale,) = struct.unpack(">I", data[at : at + 4])
        if timescale:
            return timescale
    raise LayoutError("no track with a timescale (mdhd)")


def _trex_duration(fh: BinaryIO, start: int, end: int) -> int:
    for offset, stop in _find(fh, start, end, [b"mvex", b"trex"]):
        data = _read(fh, offset, stop)
        if len(data) >= 24:
            return struct.unpack(">I", data[12:16])[0]
    return 0


def _fragment_times(
    fh: BinaryIO, start: int, end: int, default_duration: int
) -> tuple[int, int, int]:
    """(decode time, duration, samples) of the first track of one ``moof``; times in
    timescale units."""
    trafs = _find(fh, start, end, [b"traf"])
    if not trafs:
        raise LayoutError(f"moof at {start - 8} has no traf")
    t_start, t_end = trafs[0]
    base = 0
    duration = default_duration
    total = samples = 0
    for kind, pos, head, size in boxes(fh, t_start, t_end):
        data = _read(fh, pos + head, pos + size)
        version, flags = data[0], int.from_bytes(data[1:4], "big")
        if kind == b"tfdt":
            base = int.from_bytes(data[4:12] if version == 1 else data[4:8], "big")
        elif kind == b"tfhd":
            at = 8  # version+flags, track_ID
            at += 8 if flags & 0x01 else 0  # base_data_offset
            at += 4 if flags & 0x02 else 0  # sample_description_index
            if flags & 0x08:
                (duration,) = struct.unpack(">I", data[at : at + 4])
        elif kind == b"trun":
            (count,) = struct.unpack(">I", data[4:8])
            samples += count
            at = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
            if not flags & 0x100:
                total += count * duration
                continue
            stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            for n in range(count):
                (each,) = struct.unpack(">I", data[at + n * stride : at + n * stride + 4])
                total += each
    return base, total, samples


def read_layout(path: str) -> Layout:
    """The init segment and the whole fragments of the fragmented MP4 at ``path``.

    Raises:
        LayoutError: No ``moov`` at the start, or not fragmented.
        OSError: The file cannot be read.
    """
    with open(path, "rb") as fh:
        end = fh.seek(0, 2)
        top = list(boxes(fh, 0, end))
        init_size = 0
        timescale = default_duration = 0
        for kind, pos, head, size in top:
            if kind == b"moov":
                init_size = pos + size
                timescale = _timescale(fh, pos + head, pos + size)
                default_duration = _trex_duration(fh, pos + head, pos + size)
                break
            if kind == b"moof":
                break
        if not init_size:
            raise LayoutError(f"{path}: no moov before the first fragment")
        fragments = []
        moof: tuple[int, int, int] | None = None
        for kind, pos, head, size in top:
            if kind == b"moof":
                moof = (pos, head, size)
            elif kind == b"mdat" and moof is not None:
                m_pos, m_head, m_size = moof
                base, units, samples = _fragment_times(
                    fh, m_pos + m_head, m_pos + m_size, default_duration
                )
                fragments.append(
                    Fragment(
                        m_pos,
                        pos + size - m_pos,
                        base / timescale,
                        units / timescale,
                        base,
                        units,
                        samples,
                    )
                )
                moof = None
    return Layout(init_size, timescale, tuple(fragments))
