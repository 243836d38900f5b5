"""A fragmented MP4's header, made to tell its length once the clip is closed.

A segment is written with an empty ``moov`` first (so that a power cut leaves a file that
plays), which says nothing of how long the clip is: ``mvhd``'s duration is 0 and there is
no ``mehd``, so exiftool shows "Duration: 0 s". When the clip closes (and when a crashed
one is recovered) :func:`patch_duration` rewrites the header in place, at the same size:

- ``mvhd``'s duration (what exiftool and QuickTime read) is set to the clip's length;
- a ``mehd`` (movie extends header, ISO/IEC 14496-12 8.8.2: the length of the whole movie,
  fragments included) goes into ``mvex``; its 16 bytes come from FFmpeg's encoder tag
  (``udta/meta/ilst/©too``, "Lavf61.7.100"), which is dropped, the rest left as ``free``.

The header lies in the file's first 4 KiB (one page of the page cache, one write): the
new bytes are written with one ``pwrite`` before the clip's last sync, so that sync makes
them durable with the last fragment, and nothing is added to a rollover but the write.
Until then the file is still a ``.partial``: a power cut before the sync leaves either
header, and recovery cuts the torn tail and patches the header again with what is left.
"""

from __future__ import annotations

import logging
import math
import os
import struct

from appliance.media.fragments import LayoutError, boxes

log = logging.getLogger(__name__)

#: The header is patched only when it ends within this many bytes (one page).
HEADER_MAX_BYTES = 4096
_ENCODER_TAG = b"\xa9too"


class _Bytes:
    """A bytes buffer read as a file (for :func:`appliance.media.fragments.boxes`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else len(self.data) + pos
        return self.pos

    def read(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    return list(boxes(_Bytes(data), start, end))  # type: ignore[arg-type]


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _without_encoder_tag(udta: bytes) -> bytes:
    """``udta`` (a whole box) without the encoder tag in ``meta/ilst``; as it was if none."""
    out = []
    for kind, pos, _head, size in _children(udta, 8, len(udta)):
        box = udta[pos : pos + size]
        if kind == b"meta":
            # meta is a full box: version and flags, then its children.
            inner = []
            for k2, p2, _h2, s2 in _children(box, 12, len(box)):
                child = box[p2 : p2 + s2]
                if k2 == b"ilst":
                    items = [
                        child[p3 : p3 + s3]
                        for k3, p3, _h3, s3 in _children(child, 8, len(child))
                        if k3 != _ENCODER_TAG
                    ]
                    child = _box(b"ilst", b"".join(items))
                inner.append(child)
            box = _box(b"meta", box[8:12] + b"".join(inner))
        out.append(box)
    return _box(b"udta", b"".join(out))


def movie_timescale(header: bytes) -> int:
    """The ``mvhd`` timescale of a header (``ftyp`` + ``moov`` bytes).

    Raises:
        LayoutError: no ``moov/mvhd``.
    """
    for kind, pos, head, size in _children(header, 0, len(header)):
        if kind == b"moov":
            for k2, p2, h2, _s2 in _children(header, pos + head, pos + size):
                if k2 == b"mvhd":
                    body = p2 + h2
                    at = body + (20 if header[body] == 1 else 12)
                    return struct.unpack(">I", header[at : at + 4])[0]
    raise LayoutError("no moov/mvhd")


def patched_header(header: bytes, duration_s: float) -> tuple[int, bytes] | None:
    """The ``moov`` of ``header`` (the file's first bytes) saying ``duration_s``.

    Returns:
        (offset of the ``moov``, its new bytes, the same size), or None when the header is
        not one this module can patch (no ``moov`` within the bytes given, no ``mvhd``).
    """
    top = _children(header, 0, len(header))
    moov = next(((p, h, s) for k, p, h, s in top if k == b"moov"), None)
    if moov is None:
        return None
    pos, head, size = moov
    kids = _children(header, pos + head, pos + size)
    mvhd = next(((p, h, s) for k, p, h, s in kids if k == b"mvhd"), None)
    if mvhd is None:
        return None
    timescale = movie_timescale(header)
    units = max(0, math.ceil(duration_s * timescale))
    parts: list[bytes] = []
    mehd_added = False
    for kind, p, h, s in kids:
        box = header[p : p + s]
        if kind == b"mvhd":
            body = bytearray(box)
            version = body[h]
            at = h + (20 if version == 1 else 12) + 4  # past the times and the timescale
            if version == 1:
                body[at : at + 8] = struct.pack(">Q", units)
            else:
                body[at : at + 4] = struct.pack(">I", min(units, 0xFFFFFFFF))
            box = bytes(body)
        elif kind == b"mvex":
            inner = [
                box[p2 : p2 + s2]
                for k2, p2, _h2, s2 in _children(box, h, len(box))
                if k2 != b"mehd"
            ]
            if units <= 0xFFFFFFFF:
                mehd = _box(b"mehd", struct.pack(">II", 0, units))
            else:
                mehd = _box(b"mehd", struct.pack(">IQ", 1 << 24, units))
            box = _box(b"mvex", mehd + b"".join(inner))  # mehd first, as FFmpeg puts it
            mehd_added = True
        elif kind == b"udta":
            box = _without_encoder_tag(box)
        elif kind == b"free":
            continue  # room from an earlier patch: made again below
        parts.append(box)
    body = b"".join(parts)
    room = size - head - len(body)
    if mehd_added and (room < 0 or 0 < room < 8):
        return patched_header_mvhd_only(header, pos, size, kids, units)
    if room:
        body += _box(b"free", bytes(room - 8))
    new = header[pos : pos + head] + body
    assert len(new) == size
    return pos, new


def patched_header_mvhd_only(
    header: bytes, pos: int, size: int, kids: list[tuple[bytes, int, int, int]], units: int
) -> tuple[int, bytes]:
    """The ``moov`` with only ``mvhd``'s duration changed (no room for a ``mehd``)."""
    new = bytearray(header[pos : pos + size])
    for kind, p, h, _s in kids:
        if kind == b"mvhd":
            version = header[p + h]
            at = p - pos + h + (20 if version == 1 else 12) + 4
            if version == 1:
                new[at : at + 8] = struct.pack(">Q", units)
            else:
                new[at : at + 4] = struct.pack(">I", min(units, 0xFFFFFFFF))
    return pos, bytes(new)


def patch_duration(fd: int, duration_s: float) -> bool:
    """Write ``duration_s`` into the header of the fragmented MP4 open on ``fd`` (read and
    write); the caller syncs. Returns False (logged) when the header cannot be patched."""
    header = os.pread(fd, HEADER_MAX_BYTES, 0)
    try:
        patch = patched_header(header, duration_s)
    except (LayoutError, struct.error, IndexError) as exc:
        log.warning("header not patched: %s", exc)
        return False
    if patch is None:
        log.warning("header not patched: no moov in the first %d bytes", HEADER_MAX_BYTES)
        return False
    offset, data = patch
    if os.pwrite(fd, data, offset) != len(data):
        raise OSError("short write of the header")
    return True


def patch_file_duration(path: str, duration_s: float) -> bool:
    """:func:`patch_duration` on the file at ``path``, synced (a recovered clip)."""
    fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        done = patch_duration(fd, duration_s)
        if done:
            os.fdatasync(fd)
        return done
    finally:
        os.close(fd)
