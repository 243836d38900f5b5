"""A closed clip, or an incident's clips one after the other, as one ordinary MP4 that
exists only as a plan: a *virtual* progressive MP4.

A clip on the card is a fragmented MP4 (``ftyp``, an empty ``moov``, then ``moof`` +
``mdat`` per keyframe interval). Players that read it as a file see a duration that
grows as they play and seek badly (WebKit), and an incident is several such files. Here
the fragments' sample tables (``trun``: each frame's duration, size, keyframe flag and
where its bytes lie) become one ``moov`` with ``stts``/``stss``/``stsz``/``stsc``/
``stco`` over all the clips, followed by one ``mdat`` whose payload is the clips' own
sample bytes, in order. Nothing is copied: :meth:`Progressive.parts` maps any byte range
of the virtual file to the header (in memory, a few KB a minute) and ranges of the clips.

The video's sample description (``stsd``) and time units are the first clip's; a later
clip whose stream differs (another size or encoder setting) is left out (and named in
:attr:`Progressive.left_out`), as is one without a whole fragment.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from appliance.media.fragments import LayoutError, boxes

#: The ``ftyp`` of the virtual file: a plain ISO MP4 with H.264.
_FTYP_BRANDS = (b"isom", 0x200, (b"isom", b"iso2", b"avc1", b"mp41"))
#: The movie's time units per second (``mvhd``).
MOVIE_TIMESCALE = 1000
#: The largest ``moof`` read (a second of 60 fps video needs about 1 KB).
MAX_MOOF_BYTES = 1024 * 1024
_NON_SYNC = 0x10000  # sample_is_non_sync_sample, in sample flags


@dataclass(frozen=True, slots=True)
class Piece:
    """One run of sample bytes in a clip, placed in the virtual file.

    Attributes:
        at: Its offset in the virtual file.
        source: The index of its clip in :attr:`Progressive.sources`.
        offset: Its offset in that clip.
        size: Its length in bytes.
    """

    at: int
    source: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class _Sample:
    duration: int
    size: int
    sync: bool
    cto: int


@dataclass(frozen=True, slots=True)
class _Clip:
    """What one clip gives: its ``moov`` parts and its samples, run by run."""

    ftyp_moov_end: int
    mvhd: bytes
    trak_parts: dict[bytes, bytes]  # tkhd, mdhd, hdlr, vmhd, dinf, stsd: whole boxes
    udta: bytes
    timescale: int
    runs: list[tuple[int, list[_Sample]]]  # (offset of the run's bytes in the clip, samples)


@dataclass(frozen=True)
class Progressive:
    """The plan of one virtual progressive MP4.

    Attributes:
        header: ``ftyp`` + ``moov`` + the ``mdat`` header: the file's first bytes.
        sources: The clips' paths, in play order (only those in the file).
        pieces: The runs of sample bytes after the header, in file order.
        length: The virtual file's length in bytes.
        timescale: The video's time units per second.
        starts_s: Where each source begins on the file's time line, in seconds.
        durations_s: How long each source plays, in seconds.
        frames: Video frames in the file.
        left_out: Paths given that are not in the file (unreadable, no whole fragment,
            or a stream other than the first clip's).
    """

    header: bytes
    sources: tuple[str, ...]
    pieces: tuple[Piece, ...]
    length: int
    timescale: int
    starts_s: tuple[float, ...]
    durations_s: tuple[float, ...]
    frames: int
    left_out: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """The whole file's length in seconds."""
        return sum(self.durations_s)

    def parts(self, first: int, end: int) -> Iterator[tuple[int, int, int]]:
        """Where bytes ``first`` to ``end`` (exclusive) of the virtual file come from.

        Yields:
            (source, offset, size): ``source`` -1 for :attr:`header` (``offset`` into it),
            else the index of a clip in :attr:`sources` and the offset in that clip.
        """
        first, end = max(0, first), min(end, self.length)
        if first >= end:
            return
        head = len(self.header)
        if first < head:
            stop = min(end, head)
            yield -1, first, stop - first
            first = stop
        starts = [p.at for p in self.pieces]
        n = max(0, bisect.bisect_right(starts, first) - 1)
        while first < end and n < len(self.pieces):
            piece = self.pieces[n]
            skip = first - piece.at
            if 0 <= skip < piece.size:
                size = min(piece.size - skip, end - first)
                yield piece.source, piece.offset + skip, size
                first += size
            n += 1

    def read(self, first: int, end: int, opener: Callable[[str], BinaryIO] | None = None) -> bytes:
        """Bytes ``first`` to ``end`` (exclusive), read from the clips (tests, small reads)."""
        out = bytearray()
        files: dict[int, BinaryIO] = {}
        try:
            for source, offset, size in self.parts(first, end):
                if source < 0:
                    out += self.header[offset : offset + size]
                    continue
                if source not in files:
                    path = self.sources[source]
                    files[source] = opener(path) if opener else open(path, "rb")  # noqa: SIM115
                fh = files[source]
                fh.seek(offset)
                data = fh.read(size)
                if len(data) != size:
                    raise LayoutError(f"{self.sources[source]} is shorter than its fragments")
                out += data
        finally:
            for fh in files.values():
                fh.close()
        return bytes(out)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _kids(fh: BinaryIO, start: int, end: int) -> dict[bytes, tuple[int, int, int]]:
    """The first box of each kind between ``start`` and ``end``: (offset, header, size)."""
    out: dict[bytes, tuple[int, int, int]] = {}
    for kind, pos, head, size in boxes(fh, start, end):
        out.setdefault(kind, (pos, head, size))
    return out


def _whole(fh: BinaryIO, at: tuple[int, int, int]) -> bytes:
    fh.seek(at[0])
    return fh.read(at[2])


def _payload(fh: BinaryIO, at: tuple[int, int, int]) -> bytes:
    fh.seek(at[0] + at[1])
    return fh.read(at[2] - at[1])


def _inside(fh: BinaryIO, at: tuple[int, int, int], *path: bytes) -> tuple[int, int, int]:
    for kind in path:
        found = _kids(fh, at[0] + at[1], at[0] + at[2]).get(kind)
        if found is None:
            raise LayoutError(f"no {kind.decode()} in the clip's header")
        at = found
    return at


def _read_clip(path: str) -> _Clip:
    """The header parts and the samples of the fragmented MP4 at ``path``.

    Raises:
        LayoutError: Not a one-track fragmented MP4 with a whole fragment.
        OSError: It cannot be read.
    """
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        top = list(boxes(fh, 0, end))
        moov = next(((p, h, s) for k, p, h, s in top if k == b"moov"), None)
        if moov is None:
            raise LayoutError("no moov")
        kids = [(k, (p, h, s)) for k, p, h, s in boxes(fh, moov[0] + moov[1], moov[0] + moov[2])]
        traks = [at for k, at in kids if k == b"trak"]
        if len(traks) != 1:
            raise LayoutError(f"{len(traks)} tracks: only a clip of one video track plays")
        mvhd = next((at for k, at in kids if k == b"mvhd"), None)
        if mvhd is None:
            raise LayoutError("no mvhd")
        udta = next((at for k, at in kids if k == b"udta"), None)
        trak = traks[0]
        mdia = _inside(fh, trak, b"mdia")
        minf = _inside(fh, mdia, b"minf")
        stbl = _inside(fh, minf, b"stbl")
        hdlr = _payload(fh, _inside(fh, mdia, b"hdlr"))
        if hdlr[8:12] != b"vide":
            raise LayoutError("the track is not video")
        parts = {
            b"tkhd": _whole(fh, _inside(fh, trak, b"tkhd")),
            b"mdhd": _whole(fh, _inside(fh, mdia, b"mdhd")),
            b"hdlr": _whole(fh, _inside(fh, mdia, b"hdlr")),
            b"vmhd": _whole(fh, _inside(fh, minf, b"vmhd")),
            b"dinf": _whole(fh, _inside(fh, minf, b"dinf")),
            b"stsd": _whole(fh, _inside(fh, stbl, b"stsd")),
        }
        mdhd = parts[b"mdhd"]
        at = 8 + (20 if mdhd[8] == 1 else 12)
        (timescale,) = struct.unpack(">I", mdhd[at : at + 4])
        if not timescale:
            raise LayoutError("the track has no timescale")
        trex = (0, 0, 0)
        mvex = next((at for k, at in kids if k == b"mvex"), None)
        if mvex is not None:
            found = _kids(fh, mvex[0] + mvex[1], mvex[0] + mvex[2]).get(b"trex")
            if found is not None:
                data = _payload(fh, found)
                if len(data) >= 24:
                    trex = struct.unpack(">III", data[12:24])
        runs: list[tuple[int, list[_Sample]]] = []
        moof = None
        for kind, pos, head, size in top:
            if kind == b"moof":
                moof = (pos, head, size)
            elif kind == b"mdat" and moof is not None:
                if moof[2] <= MAX_MOOF_BYTES:
                    runs += _fragment_runs(fh, moof, (pos + head, pos + size), trex)
                moof = None
        if not runs:
            raise LayoutError("no whole fragment")
        return _Clip(
            moov[0] + moov[2],
            _whole(fh, mvhd),
            parts,
            _whole(fh, udta) if udta is not None else b"",
            timescale,
            runs,
        )


def _fragment_runs(
    fh: BinaryIO,
    moof: tuple[int, int, int],
    mdat: tuple[int, int],
    trex: tuple[int, int, int],
) -> list[tuple[int, list[_Sample]]]:
    """The runs of samples one ``moof`` describes, each with where its bytes lie."""
    data = _whole(fh, moof)
    runs: list[tuple[int, list[_Sample]]] = []
    view = _Bytes(data)
    traf = _kids(view, 8, len(data)).get(b"traf")
    if traf is None:
        return runs
    tfhd_at = None
    truns = []
    for kind, pos, head, size in boxes(view, traf[0] + traf[1], traf[0] + traf[2]):
        if kind == b"tfhd":
            tfhd_at = (pos + head, pos + size)
        elif kind == b"trun":
            truns.append((pos + head, pos + size))
    if tfhd_at is None:
        return runs
    t = data[tfhd_at[0] : tfhd_at[1]]
    flags = int.from_bytes(t[1:4], "big")
    at = 8
    base = moof[0]
    if flags & 0x01:
        (base,) = struct.unpack(">Q", t[at : at + 8])
        at += 8
    if flags & 0x02:
        (description,) = struct.unpack(">I", t[at : at + 4])
        at += 4
        if description != 1:
            raise LayoutError("a fragment uses another sample description")
    d_dur, d_size, d_flags = trex
    if flags & 0x08:
        (d_dur,) = struct.unpack(">I", t[at : at + 4])
        at += 4
    if flags & 0x10:
        (d_size,) = struct.unpack(">I", t[at : at + 4])
        at += 4
    if flags & 0x20:
        (d_flags,) = struct.unpack(">I", t[at : at + 4])
    offset = base
    for start, stop in truns:
        r = data[start:stop]
        rflags = int.from_bytes(r[1:4], "big")
        version = r[0]
        (count,) = struct.unpack(">I", r[4:8])
        at = 8
        if rflags & 0x01:
            (rel,) = struct.unpack(">i", r[at : at + 4])
            offset = base + rel
            at += 4
        first_flags = None
        if rflags & 0x04:
            (first_flags,) = struct.unpack(">I", r[at : at + 4])
            at += 4
        fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if rflags & bit]
        if at + 4 * len(fields) * count > len(r):
            raise LayoutError("a trun is shorter than its samples")
        samples = []
        for n in range(count):
            dur, size, sflags, cto = d_dur, d_size, d_flags, 0
            for bit in fields:
                raw = r[at : at + 4]
                at += 4
                if bit == 0x100:
                    (dur,) = struct.unpack(">I", raw)
                elif bit == 0x200:
                    (size,) = struct.unpack(">I", raw)
                elif bit == 0x400:
                    (sflags,) = struct.unpack(">I", raw)
                else:
                    (cto,) = struct.unpack(">i" if version else ">I", raw)
            if n == 0 and first_flags is not None:
                sflags = first_flags
            samples.append(_Sample(dur, size, not sflags & _NON_SYNC, cto))
        run_bytes = sum(s.size for s in samples)
        if not (mdat[0] <= offset and offset + run_bytes <= mdat[1]):
            raise LayoutError("a fragment's samples lie outside its mdat")
        if samples:
            runs.append((offset, samples))
        offset += run_bytes
    return runs


class _Bytes:
    """Bytes read as a file (for :func:`appliance.media.fragments.boxes`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else len(self._data) + pos
        return self._pos

    def read(self, n: int) -> bytes:
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out


def _with_duration(box: bytes, v0_at: int, v1_at: int, units: int) -> bytes:
    """A full box (``mvhd``, ``tkhd``, ``mdhd``) with its duration field set."""
    out = bytearray(box)
    if out[8] == 1:
        out[8 + v1_at : 8 + v1_at + 8] = struct.pack(">Q", units)
    else:
        out[8 + v0_at : 8 + v0_at + 4] = struct.pack(">I", min(units, 0xFFFFFFFF))
    return bytes(out)


def _table(kind: bytes, rows: Sequence[tuple[int, ...]], fmt: str, version: int = 0) -> bytes:
    body = b"".join(struct.pack(fmt, *r) for r in rows)
    return _full(kind, version, 0, struct.pack(">I", len(rows)) + body)


def _runs_of(values: Sequence[int]) -> list[tuple[int, int]]:
    """(count, value) runs of equal neighbours."""
    out: list[list[int]] = []
    for value in values:
        if out and out[-1][1] == value:
            out[-1][0] += 1
        else:
            out.append([1, value])
    return [(c, v) for c, v in out]


def _moov(
    first: _Clip, samples: list[_Sample], chunks: list[int], offsets: list[int], wide: bool
) -> bytes:
    """The ``moov`` of the virtual file: the first clip's track with every sample; chunk
    offsets of 64 bits if ``wide``."""
    media_units = sum(s.duration for s in samples)
    movie_units = -(-media_units * MOVIE_TIMESCALE // first.timescale)
    mvhd = bytearray(first.mvhd)
    scale_at = 8 + (20 if mvhd[8] == 1 else 12)
    mvhd[scale_at : scale_at + 4] = struct.pack(">I", MOVIE_TIMESCALE)
    mvhd_box = _with_duration(bytes(mvhd), 16, 24, movie_units)
    tkhd = _with_duration(first.trak_parts[b"tkhd"], 20, 28, movie_units)
    mdhd = _with_duration(first.trak_parts[b"mdhd"], 16, 24, media_units)
    stts = _table(b"stts", _runs_of([s.duration for s in samples]), ">II")
    tables = first.trak_parts[b"stsd"] + stts
    if any(s.cto for s in samples):
        negative = any(s.cto < 0 for s in samples)
        ctts = _runs_of([s.cto for s in samples])
        tables += _table(b"ctts", ctts, ">Ii" if negative else ">II", 1 if negative else 0)
    if not all(s.sync for s in samples):
        tables += _table(b"stss", [(n + 1,) for n, s in enumerate(samples) if s.sync], ">I")
    stsc: list[tuple[int, int, int]] = []
    for n, count in enumerate(chunks):
        if not stsc or stsc[-1][1] != count:
            stsc.append((n + 1, count, 1))
    tables += _table(b"stsc", stsc, ">III")
    tables += _full(
        b"stsz",
        0,
        0,
        struct.pack(">II", 0, len(samples)) + b"".join(struct.pack(">I", s.size) for s in samples),
    )
    if wide:
        tables += _table(b"co64", [(o,) for o in offsets], ">Q")
    else:
        tables += _table(b"stco", [(o,) for o in offsets], ">I")
    minf = _box(
        b"minf", first.trak_parts[b"vmhd"] + first.trak_parts[b"dinf"] + _box(b"stbl", tables)
    )
    mdia = _box(b"mdia", mdhd + first.trak_parts[b"hdlr"] + minf)
    return _box(b"moov", mvhd_box + _box(b"trak", tkhd + mdia) + first.udta)


def _ftyp() -> bytes:
    major, minor, compatible = _FTYP_BRANDS
    return _box(b"ftyp", major + struct.pack(">I", minor) + b"".join(compatible))


def build(paths: Sequence[str]) -> Progressive:
    """Plan the virtual progressive MP4 of the clips at ``paths``, played in order.

    Raises:
        LayoutError: No clip given can be played (none readable with a whole fragment).
    """
    clips: list[tuple[str, _Clip]] = []
    left_out: list[str] = []
    for path in paths:
        try:
            clip = _read_clip(path)
        except (LayoutError, OSError, struct.error, IndexError):
            left_out.append(path)
            continue
        if clips:
            ref = clips[0][1]
            if (
                clip.timescale != ref.timescale
                or clip.trak_parts[b"stsd"] != ref.trak_parts[b"stsd"]
            ):
                left_out.append(path)
                continue
        clips.append((path, clip))
    if not clips:
        raise LayoutError("nothing to play: no clip with a whole fragment")
    first = clips[0][1]
    samples: list[_Sample] = []
    chunks: list[int] = []
    sources: list[tuple[int, int, int]] = []  # per chunk: (source, offset, size)
    starts_s: list[float] = []
    durations_s: list[float] = []
    units = 0
    for n, (_path, clip) in enumerate(clips):
        starts_s.append(units / first.timescale)
        clip_units = 0
        for offset, run in clip.runs:
            samples += run
            chunks.append(len(run))
            sources.append((n, offset, sum(s.size for s in run)))
            clip_units += sum(s.duration for s in run)
        units += clip_units
        durations_s.append(clip_units / first.timescale)
    data_bytes = sum(size for _, _, size in sources)
    mdat_head = 8 if data_bytes + 8 <= 0xFFFFFFFF else 16
    ftyp = _ftyp()
    # The moov's size depends only on whether offsets need 64 bits, not on their values.
    zeros = [0] * len(chunks)
    total = len(ftyp) + len(_moov(first, samples, chunks, zeros, False)) + mdat_head + data_bytes
    wide = total > 0xFFFFFFFF
    at = len(ftyp) + len(_moov(first, samples, chunks, zeros, wide)) + mdat_head
    offsets, pieces = [], []
    for source, offset, size in sources:
        offsets.append(at)
        pieces.append(Piece(at, source, offset, size))
        at += size
    moov = _moov(first, samples, chunks, offsets, wide)
    if mdat_head == 8:
        mdat = struct.pack(">I4s", 8 + data_bytes, b"mdat")
    else:
        mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + data_bytes)
    header = ftyp + moov + mdat
    return Progressive(
        header=header,
        sources=tuple(path for path, _ in clips),
        pieces=tuple(pieces),
        length=len(header) + data_bytes,
        timescale=first.timescale,
        starts_s=tuple(starts_s),
        durations_s=tuple(durations_s),
        frames=len(samples),
        left_out=tuple(left_out),
    )


def file_key(path: str) -> tuple[int, int, int]:
    """What says a clip is unchanged: (inode, size, modification time in ns).

    Raises:
        OSError: It cannot be looked at.
    """
    st = os.stat(path, follow_symlinks=False)
    return st.st_ino, st.st_size, st.st_mtime_ns


class ProgressiveCache:
    """The plans of the last clip lists asked for, each kept while its clips stay as they
    were (a request then costs a ``stat`` per clip, not a walk of their fragments).

    Args:
        max_plans: Plans kept; the least recently used go first.
    """

    def __init__(self, max_plans: int = 32) -> None:
        self._max = max_plans
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple[str, ...], tuple[tuple, Progressive]] = OrderedDict()

    def get(self, paths: Sequence[str]) -> tuple[Progressive, tuple[tuple[int, int, int], ...]]:
        """The plan of ``paths`` and the keys (:func:`file_key`) of the clips it holds.

        Raises:
            LayoutError: As :func:`build`.
            OSError: A clip cannot be looked at.
        """
        name = tuple(paths)
        keys = tuple(_key_or_none(path) for path in name)
        with self._lock:
            known = self._plans.get(name)
            if known is not None and known[0] == keys:
                self._plans.move_to_end(name)
                plan = known[1]
                return plan, _keys_of(plan, name, keys)
        plan = build([p for p, k in zip(name, keys, strict=True) if k is not None])
        gone = tuple(p for p, k in zip(name, keys, strict=True) if k is None)
        plan = dataclasses.replace(plan, left_out=gone + plan.left_out)
        with self._lock:
            self._plans[name] = (keys, plan)
            self._plans.move_to_end(name)
            while len(self._plans) > self._max:
                self._plans.popitem(last=False)
        return plan, _keys_of(plan, name, keys)


def _key_or_none(path: str) -> tuple[int, int, int] | None:
    try:
        return file_key(path)
    except OSError:
        return None


def _keys_of(plan: Progressive, names: tuple[str, ...], keys: tuple) -> tuple:
    by_name = dict(zip(names, keys, strict=True))
    return tuple(by_name[source] for source in plan.sources)
