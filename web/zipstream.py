"""A ZIP of several files, sent as the client reads it: no temporary file, little memory.

The gallery's "download selected" answers with this. Members are stored (video and JPEG
do not compress); each member's CRC is known only once its bytes have gone, so it follows
them in a data descriptor (as :mod:`zipfile` writes to an unseekable file), with ZIP64
sizes and offsets where they pass 2 GiB. Every size is read from the card before the first
byte, so the ZIP's length is known up front: it goes out as ``Content-Length`` (the phone
shows the progress) and the server pulls it (:mod:`web.bodies`), one socket's worth at a
time, only as fast as the client reads. A file gone or changed by the time its turn
comes (the card prunes) cuts the download there: never a wrong ZIP.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from web.bodies import BodyCut, FileRange, PulledBody
from web.media import try_open_below

#: Past this a size or an offset goes in ZIP64 fields (as :mod:`zipfile`: some readers
#: take the 32-bit fields as signed).
ZIP64_LIMIT = (1 << 31) - 1
#: Past this many members the count goes in the ZIP64 end record.
ZIP64_COUNT_LIMIT = 0xFFFF
_FLAG_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_UNIX_FILE = (0o100644 << 16) & 0xFFFFFFFF


@dataclass(frozen=True)
class Member:
    """One file of the ZIP as it was on the card when the ZIP was planned."""

    name: bytes
    path: str
    size: int
    mtime_s: float
    identity: tuple[int, int, int]
    offset: int
    zip64: bool
    flags: int


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    """What tells a file from another put in its place (a new inode may reuse the number)."""
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _dos_time(mtime_s: float) -> tuple[int, int]:
    """(time, date) in MS-DOS form, local time, clamped to 1980-2107 (a Pi without a
    clock may have stamped 1970)."""
    t = time.localtime(mtime_s)
    if t.tm_year < 1980:
        return 0, 1 << 5 | 1
    if t.tm_year > 2107:
        return 23 << 11 | 59 << 5 | 29, 127 << 9 | 12 << 5 | 31
    return (
        t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2,
        (t.tm_year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday,
    )


class ZipPlan:
    """The ZIP of some files: where each member goes, and the whole length.

    Args:
        root: The card's root; every file is opened below it without following a symlink.
        files: (name in the archive, path on the card) in order. A file missing (or not a
            regular file) now is left out.
        zip64_limit: See :data:`ZIP64_LIMIT` (tests lower it).
    """

    def __init__(
        self, root: str, files: Iterable[tuple[str, str]], *, zip64_limit: int = ZIP64_LIMIT
    ) -> None:
        self.root = root
        self.limit = zip64_limit
        self.members: list[Member] = []
        offset = 0
        for name, path in files:
            fd = try_open_below(root, path)
            if fd is None:
                continue
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            raw = name.encode("utf-8")
            member = Member(
                name=raw,
                path=path,
                size=st.st_size,
                mtime_s=st.st_mtime,
                identity=_identity(st),
                offset=offset,
                zip64=st.st_size >= zip64_limit,
                flags=_FLAG_DESCRIPTOR | (0 if name.isascii() else _FLAG_UTF8),
            )
            self.members.append(member)
            offset += len(self._local(member)) + member.size + (24 if member.zip64 else 16)
        self.central_offset = offset
        self.central_size = sum(len(self._central(m, 0)) for m in self.members)
        self.length = offset + self.central_size + len(self._end())

    def body(self) -> PulledBody:
        """The ZIP as a body the server pulls (see :mod:`web.bodies`)."""
        return PulledBody(self.chunks(), self.length)

    def chunks(self) -> Iterator[bytes]:
        """The ZIP's bytes in order.

        Raises:
            BodyCut: a member's file is gone or changed since the plan.
        """
        crcs: list[int] = []
        for member in self.members:
            yield self._local(member)
            fd = try_open_below(self.root, member.path)
            if fd is None:
                raise BodyCut(f"{member.name.decode()} is gone from the card")
            st = os.fstat(fd)
            data = FileRange(fd, 0, member.size)
            if _identity(st) != member.identity or st.st_size != member.size:
                data.close()
                raise BodyCut(f"{member.name.decode()} changed on the card")
            crc = 0
            try:
                for chunk in data:
                    crc = zlib.crc32(chunk, crc)
                    yield chunk
            finally:
                data.close()
            fmt = "<4sLQQ" if member.zip64 else "<4sLLL"
            yield struct.pack(fmt, b"PK\x07\x08", crc, member.size, member.size)
            crcs.append(crc)
        yield b"".join(self._central(m, c) for m, c in zip(self.members, crcs, strict=True))
        yield self._end()

    # -- records -------------------------------------------------------------------------

    def _local(self, m: Member) -> bytes:
        mtime, mdate = _dos_time(m.mtime_s)
        if m.zip64:  # sizes follow in the descriptor; the extra field says they are 64-bit
            version, size32, extra = 45, 0xFFFFFFFF, struct.pack("<HHQQ", 1, 16, 0, 0)
        else:
            version, size32, extra = 20, 0, b""
        head = struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            version,
            m.flags,
            0,
            mtime,
            mdate,
            0,
            size32,
            size32,
            len(m.name),
            len(extra),
        )
        return head + m.name + extra

    def _central(self, m: Member, crc: int) -> bytes:
        mtime, mdate = _dos_time(m.mtime_s)
        big = [v for v in (m.size, m.size) if v >= self.limit]
        if m.offset >= self.limit:
            big.append(m.offset)
        extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
        version = 45 if big or m.zip64 else 20
        size32 = 0xFFFFFFFF if m.size >= self.limit else m.size
        offset32 = 0xFFFFFFFF if m.offset >= self.limit else m.offset
        head = struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            3 << 8 | version,  # made on Unix (the mode in the external attributes)
            version,
            m.flags,
            0,
            mtime,
            mdate,
            crc,
            size32,
            size32,
            len(m.name),
            len(extra),
            0,
            0,
            0,
            _UNIX_FILE,
            offset32,
        )
        return head + m.name + extra

    def _end(self) -> bytes:
        count, size, start = len(self.members), self.central_size, self.central_offset
        out = b""
        if count >= ZIP64_COUNT_LIMIT or size >= self.limit or start >= self.limit:
            record_at = start + size
            out += struct.pack(
                "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, start
            )
            out += struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
        out += struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            min(count, ZIP64_COUNT_LIMIT),
            min(count, ZIP64_COUNT_LIMIT),
            min(size, 0xFFFFFFFF),
            min(start, 0xFFFFFFFF),
            0,
        )
        return out
