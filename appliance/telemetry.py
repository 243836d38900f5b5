"""An in-file telemetry track for an export: the GPS inside the MP4, as dashcam viewers and
forensic tools read it.

exiftool (``-ee``) decodes a ``tx3g`` subtitle track (handler ``sbtl``) whose samples read
``Lat:52.5162746 Lon:13.3777041 Alt:34.2 m`` into GPSLatitude, GPSLongitude and
GPSAltitude, one per sample with its time; ffprobe lists it as a ``mov_text`` subtitle
stream, and players can show it. :func:`add_gps_track` adds such a track to a plain MP4
the export has just written: one sample a second (the fix nearest each second; an empty
sample where there was none), the samples in an ``mdat`` appended at the end, and the
``trak`` written into the room the export kept after its ``moov`` (FFmpeg's ``moov_size``
leaves it as a ``free`` box), so nothing else in the file moves. Made when the export is
made, never on the recorder's path.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Iterable

from appliance.gps_track import Fix
from appliance.media.fragments import boxes

log = logging.getLogger(__name__)

#: The telemetry track's time units per second (milliseconds).
TIMESCALE = 1000
#: One sample per this many seconds.
SAMPLE_S = 1.0


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def sample_text(fix: Fix) -> str:
    """One sample's text: ``Lat:… Lon:…`` and ``Alt:… m`` with a 3D fix."""
    text = f"Lat:{fix.lat_deg:.7f} Lon:{fix.lon_deg:.7f}"
    if fix.mode >= 3 and fix.alt_m is not None and math.isfinite(fix.alt_m):
        text += f" Alt:{fix.alt_m:.1f} m"
    return text


def samples(timed: Iterable[tuple[float, Fix]], length_s: float) -> list[tuple[bytes, int]]:
    """(tx3g sample, duration in ms) covering 0 to ``length_s``: each second the latest fix
    of that second, an empty sample where none."""
    by_second: dict[int, Fix] = {}
    for at_s, fix in timed:
        if fix.has_fix and 0 <= at_s < length_s:
            by_second[int(at_s // SAMPLE_S)] = fix
    out: list[tuple[bytes, int]] = []
    seconds = max(1, math.ceil(length_s / SAMPLE_S))
    for n in range(seconds):
        start = round(n * SAMPLE_S * TIMESCALE)
        end = round(min(length_s, (n + 1) * SAMPLE_S) * TIMESCALE)
        fix = by_second.get(n)
        text = sample_text(fix).encode("ascii") if fix is not None else b""
        out.append((struct.pack(">H", len(text)) + text, max(1, end - start)))
    return out


def _tx3g_entry() -> bytes:
    """The ``tx3g`` sample description (3GPP TS 26.245): defaults, one font."""
    body = bytes(6) + struct.pack(">H", 1)  # reserved, data_reference_index
    body += struct.pack(">IbB", 0, 1, 0xFF)  # displayFlags, justification (centre, bottom)
    body += struct.pack(">I", 0)  # background colour
    body += struct.pack(">hhhh", 0, 0, 0, 0)  # default text box
    body += struct.pack(">HHHBBI", 0, 0, 1, 0, 18, 0xFFFFFFFF)  # style: font 1, 18 px, white
    body += _box(b"ftab", struct.pack(">HHB", 1, 1, 5) + b"Serif")
    return _box(b"tx3g", body)


def _trak(
    track_id: int,
    movie_scale: int,
    chunk_offsets: list[int],
    durations: list[int],
    sizes: list[int],
) -> bytes:
    total_ms = sum(durations)
    movie_duration = math.ceil(total_ms * movie_scale / TIMESCALE)
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = _full(
        b"tkhd",
        0,
        0x3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, track_id, 0, movie_duration)
        + bytes(8)
        + struct.pack(">hhhH", 0, 0, 0, 0)
        + matrix
        + struct.pack(">II", 0, 0),
    )
    mdhd = _full(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, total_ms, 0x55C4, 0))
    hdlr = _full(b"hdlr", 0, 0, struct.pack(">I4s", 0, b"sbtl") + bytes(12) + b"GPS\0")
    dinf = _box(b"dinf", _full(b"dref", 0, 0, struct.pack(">I", 1) + _full(b"url ", 0, 1, b"")))
    stts_runs: list[tuple[int, int]] = []
    for duration in durations:
        if stts_runs and stts_runs[-1][1] == duration:
            stts_runs[-1] = (stts_runs[-1][0] + 1, duration)
        else:
            stts_runs.append((1, duration))
    stts = _full(
        b"stts",
        0,
        0,
        struct.pack(">I", len(stts_runs)) + b"".join(struct.pack(">II", *r) for r in stts_runs),
    )
    stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1) + _tx3g_entry())
    stsc = _full(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1))  # one sample per chunk
    stsz = _full(
        b"stsz",
        0,
        0,
        struct.pack(">II", 0, len(sizes)) + b"".join(struct.pack(">I", s) for s in sizes),
    )
    if chunk_offsets and chunk_offsets[-1] > 0xFFFFFFFF:
        stco = _full(
            b"co64",
            0,
            0,
            struct.pack(">I", len(chunk_offsets))
            + b"".join(struct.pack(">Q", o) for o in chunk_offsets),
        )
    else:
        stco = _full(
            b"stco",
            0,
            0,
            struct.pack(">I", len(chunk_offsets))
            + b"".join(struct.pack(">I", o) for o in chunk_offsets),
        )
    stbl = _box(b"stbl", stsd + stts + stsc + stsz + stco)
    minf = _box(b"minf", _full(b"nmhd", 0, 0, b"") + dinf + stbl)
    return _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))


def add_gps_track(path: str, timed: Iterable[tuple[float, Fix]], length_s: float) -> bool:
    """Add the GPS track of ``timed`` ((seconds into the file, fix)) to the plain MP4 at
    ``path`` (its ``moov`` first, with room after it).

    Returns:
        False (logged) when the file has no room after its ``moov`` for the track, or no
        fix to carry.
    """
    found = samples(timed, length_s)
    if not any(len(data) > 2 for data, _ in found):
        return False
    with open(path, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        top = list(boxes(fh, 0, end))
        moov = next(((p, h, s) for k, p, h, s in top if k == b"moov"), None)
        if moov is None:
            log.warning("%s: no moov: no GPS track added", path)
            return False
        m_pos, m_head, m_size = moov
        after = next(((k, p, s) for k, p, _, s in top if p == m_pos + m_size), None)
        room = after[2] if after is not None and after[0] == b"free" else 0
        fh.seek(m_pos)
        moov_bytes = fh.read(m_size)
        kids = list(boxes(_Bytes(moov_bytes), m_head, m_size))  # type: ignore[arg-type]
        mvhd = next(((p, h, s) for k, p, h, s in kids if k == b"mvhd"), None)
        if mvhd is None:
            return False
        at = mvhd[0] + mvhd[1]
        version = moov_bytes[at]
        scale_at = at + (20 if version == 1 else 12)
        movie_scale = struct.unpack(">I", moov_bytes[scale_at : scale_at + 4])[0]
        next_id_at = mvhd[0] + mvhd[2] - 4  # next_track_ID: mvhd's last field
        next_id = struct.unpack(">I", moov_bytes[next_id_at : next_id_at + 4])[0]
        sizes = [len(data) for data, _ in found]
        mdat_at = end
        offsets = []
        pos = mdat_at + 8
        for size in sizes:
            offsets.append(pos)
            pos += size
        trak = _trak(next_id, movie_scale, offsets, [d for _, d in found], sizes)
        leftover = room - len(trak)
        if leftover < 0 or 0 < leftover < 8:
            log.warning("%s: no room after the moov for a GPS track", path)
            return False
        new_moov = bytearray(moov_bytes)
        new_moov[next_id_at : next_id_at + 4] = struct.pack(">I", next_id + 1)
        new_moov += trak
        new_moov[0:4] = struct.pack(">I", len(new_moov))
        fh.seek(end)
        fh.write(_box(b"mdat", b"".join(data for data, _ in found)))
        fh.flush()
        fh.seek(m_pos)
        fh.write(bytes(new_moov) + (_box(b"free", bytes(leftover - 8)) if leftover else b""))
    return True


class _Bytes:
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
