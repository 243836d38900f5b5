"""A ZIP of several files, streamed as it is made: no temporary file, little memory.

The gallery's "download selected" answers with this. Members are stored (video and JPEG
do not compress), written through :mod:`zipfile` onto a write-only buffer that is emptied
after every chunk, so the response starts at once and memory stays at about one chunk.
"""

from __future__ import annotations

import os
import time
import zipfile
from collections.abc import Iterable, Iterator

#: Bytes read from a file at a time.
CHUNK_BYTES = 256 * 1024
#: Past this a member needs ZIP64 sizes (said up front: the stream cannot go back).
_ZIP64_LIMIT = zipfile.ZIP64_LIMIT


class _Sink:
    """A write-only file for :class:`zipfile.ZipFile` that keeps what is written until
    taken. Without ``seek`` zipfile writes data descriptors instead of going back."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def zip_stream(files: Iterable[tuple[str, str]]) -> Iterator[bytes]:
    """The ZIP of ``files`` ((name in the archive, path on disk)), in chunks.

    A file that is gone by the time its turn comes is left out (the card prunes); any other
    read error ends the stream (the client sees a cut download, never a wrong file).
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, path in files:
            try:
                fh = open(path, "rb")  # noqa: SIM115 - closed below, streamed in chunks
            except FileNotFoundError:
                continue
            with fh:
                st = os.fstat(fh.fileno())
                # ZIP dates start in 1980; a Pi without a clock may have stamped 1970.
                stamp = max((1980, 1, 1, 0, 0, 0), time.localtime(st.st_mtime)[:6])
                info = zipfile.ZipInfo(name, stamp)
                info.compress_type = zipfile.ZIP_STORED
                info.file_size = st.st_size
                with archive.open(info, "w", force_zip64=st.st_size >= _ZIP64_LIMIT) as member:
                    while chunk := fh.read(CHUNK_BYTES):
                        member.write(chunk)
                        yield sink.take()
            yield sink.take()
    yield sink.take()
