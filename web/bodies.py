"""Response bodies the server takes only as fast as the client reads them.

Waitress sends a body that is a seekable file (``wsgi.file_wrapper``, which Falcon uses
for ``resp.set_stream(file, length)``) from its main loop, a socket's worth at a time, when
the socket can take more: nothing is read ahead, no worker thread waits, nothing goes to
a temporary file. :class:`PulledBody` makes any body of known length look like such a
file: its bytes are made by an iterator, on demand, and only what the server has not sent
yet is kept (at most one chunk more than asked for). The ZIP of the gallery, a moved HLS
fragment and the network drive's files are sent this way.

A body whose iterator cannot give the length it promised (a file deleted under it) raises
:class:`BodyCut`, an :class:`OSError`: the server closes the connection, so the client sees
a cut download, never a wrong one.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

#: Bytes read from a file at a time by :func:`file_range`.
READ_BYTES = 64 * 1024


class BodyCut(OSError):
    """A body could not be made whole; what was sent stands, the rest never comes."""


class PulledBody:
    """A read-only, seekable file of ``length`` bytes whose bytes ``chunks`` makes on demand.

    Reading moves forward only: a seek back before what was last read fails (Waitress
    peeks at a socket's worth, seeks back to where it was and then skips what went out).
    A read makes at most one chunk, so it may return fewer bytes than asked for (an empty
    read is the end); what is kept is at most a chunk.

    Args:
        chunks: The body in order, in chunks of any size.
        length: Its length in bytes, promised in ``Content-Length``.
    """

    def __init__(self, chunks: Iterable[bytes], length: int) -> None:
        self.length = length
        self._chunks: Iterator[bytes] | None = iter(chunks)
        self._buf = bytearray()
        self._start = 0  # offset of _buf[0] in the body
        self._pos = 0
        self.kept_max_bytes = 0  # the most bytes held at once (for tests and benches)

    # -- the file interface Waitress and Falcon use ------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}[whence]
        pos = base + offset
        if pos < self._start or pos > self.length:
            raise io.UnsupportedOperation(
                f"cannot seek to {pos}: the body is kept from {self._start} on"
            )
        self._pos = pos
        return pos

    def read(self, n: int | None = -1) -> bytes:
        left = self.length - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        del self._buf[: self._pos - self._start]  # sent: never needed again
        self._start = self._pos
        while not self._buf:  # at most one chunk made per read: a short read is fine
            self._buf += self._next()
            self.kept_max_bytes = max(self.kept_max_bytes, len(self._buf))
        out = bytes(self._buf[:n])
        self._pos += len(out)
        return out

    def close(self) -> None:
        chunks, self._chunks = self._chunks, None
        self._buf = bytearray()
        close = getattr(chunks, "close", None)
        if close is not None:
            close()

    @property
    def closed(self) -> bool:
        return self._chunks is None

    # -----------------------------------------------------------------------------------

    def _next(self) -> bytes:
        if self._chunks is None:
            raise BodyCut("the body was closed")
        made = self._start + len(self._buf)
        try:
            chunk = next(self._chunks)
        except StopIteration:
            raise BodyCut(f"the body ended after {made} of {self.length} bytes") from None
        if made + len(chunk) > self.length:
            raise BodyCut(f"the body runs past its {self.length} bytes")
        return chunk


class FileRange:
    """``length`` bytes of the open file ``fd`` from ``offset``, as chunks; owns ``fd``.

    Iterating raises :class:`BodyCut` if the file ends first (cut short meanwhile);
    :meth:`close` (also at the end) closes ``fd``, whether iterating began or not.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd: int | None = fd
        self._offset = offset
        self._left = length

    def __iter__(self) -> FileRange:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0 or self._fd is None:
            self.close()
            raise StopIteration
        chunk = os.pread(self._fd, min(READ_BYTES, self._left), self._offset)
        if not chunk:
            self.close()
            raise BodyCut("the file is shorter than when the answer began")
        self._offset += len(chunk)
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


class Chain:
    """Parts one after another, each bytes or an iterator of bytes; :meth:`close` closes
    every part not yet used up (their files too)."""

    def __init__(self, *parts: bytes | Iterator[bytes]) -> None:
        self._parts = list(parts)

    def __iter__(self) -> Chain:
        return self

    def __next__(self) -> bytes:
        while self._parts:
            part = self._parts[0]
            if isinstance(part, bytes | bytearray):
                self._parts.pop(0)
                if part:
                    return bytes(part)
                continue
            try:
                return next(part)
            except StopIteration:
                self._parts.pop(0)
        raise StopIteration

    def close(self) -> None:
        parts, self._parts = self._parts, []
        for part in parts:
            close = getattr(part, "close", None)
            if close is not None:
                close()
