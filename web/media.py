"""Clips, photos and thumbnails over HTTP with byte ranges (Safari needs them to seek).

A file is found by its sequence number in the library; a name from the URL is never
joined into a path. Files are opened component by component below the library's root
with ``O_NOFOLLOW``: a symlink anywhere on the way (a clip or thumbnail replaced by one,
a folder swapped for one) is refused, as is anything but a regular file.

Every file carries a strong ``ETag`` and ``Last-Modified``; ``If-None-Match`` and
``If-Modified-Since`` answer 304, and ``If-Range`` with a stale validator serves the whole
file. The body is the open file itself, positioned at the first byte and with the length
set, so Waitress's ``wsgi.file_wrapper`` sends it from its main loop and no worker thread
waits on a slow reader.
"""

from __future__ import annotations

import email.utils
import errno
import os
import re
import stat
from collections.abc import Callable
from datetime import UTC, datetime

import falcon

from appliance.errors import NotFound
from appliance.items import Item
from web.spec import Deps, Reply, operation

_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)
#: Range positions with more significant digits than this are past the end of any file.
MAX_RANGE_DIGITS = 15
_RANGE_CAP = 10**MAX_RANGE_DIGITS
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}
#: The most one read of a served file gives (see :class:`FileSlice`).
MAX_READ_BYTES = 256 * 1024
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _position(digits: str) -> int:
    """A range position; one too long to be a file position is capped (still past the end)."""
    digits = digits.lstrip("0") or "0"
    return _RANGE_CAP if len(digits) > MAX_RANGE_DIGITS else int(digits)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range ``(first, last)`` asked for, clipped to the file.

    Returns:
        None if the header is not a single byte range we understand (serve the whole file).

    Raises:
        falcon.HTTPRangeNotSatisfiable: the range starts past the end (or the file is empty).
    """
    m = _RANGE_RE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        first = _position(m.group(1))
        last = _position(m.group(2)) if m.group(2) else max(first, size - 1)
        if last < first:
            return None  # syntactically invalid: ignored, as RFC 9110 says
    else:
        suffix = _position(m.group(2))
        if suffix == 0:
            raise falcon.HTTPRangeNotSatisfiable(size)
        first, last = max(0, size - suffix), size - 1
    if first >= size:
        raise falcon.HTTPRangeNotSatisfiable(size)
    return first, min(last, size - 1)


class Refused(OSError):
    """A file that may not be served: gone, outside the root, a symlink, not regular."""


def _open_below(root: str, path: str) -> int:
    """Open the regular file ``path`` below ``root`` without following any symlink.

    Raises:
        Refused: with the reason.
    """
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if rel.startswith(os.pardir) or os.path.isabs(rel) or "" in parts or ".." in parts:
        raise Refused("the file is not on the card")
    fds: list[int] = []
    try:
        fds.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for part in parts[:-1]:
            fds.append(os.open(part, _OPEN_DIR, dir_fd=fds[-1]))
        fd = os.open(parts[-1], _OPEN_FILE, dir_fd=fds[-1])
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused("refused: the file is a symbolic link") from None
        raise Refused("the file is gone from the card") from None
    finally:
        for dir_fd in fds:
            os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused("refused: not a regular file")
    os.set_blocking(fd, True)
    return fd


def open_below(root: str, path: str) -> int:
    """Open the regular file ``path`` below ``root`` without following any symlink.

    Returns:
        A file descriptor open for reading.

    Raises:
        falcon.HTTPNotFound: the file is gone, is outside ``root``, is reached through a
            symlink, or is not a regular file.
    """
    try:
        return _open_below(root, path)
    except Refused as exc:
        raise falcon.HTTPNotFound(description=str(exc)) from None


def try_open_below(root: str, path: str) -> int | None:
    """:func:`open_below`, or None where it would refuse."""
    try:
        return _open_below(root, path)
    except Refused:
        return None


class FileSlice:
    """An open file that reads no further than ``end`` (exclusive), positioned at ``first``.

    It keeps ``seek`` and ``tell``, so Waitress's ``wsgi.file_wrapper`` still treats it as
    a file and sends it from its main loop (``prepare`` uses ``tell`` and the content
    length); the bound serves servers that just read the stream to its end. A read gives
    at most :data:`MAX_READ_BYTES` (Waitress asks for the socket's send buffer at once,
    4 MiB on loopback, and sends what the socket takes).
    """

    def __init__(self, f, first: int, end: int) -> None:
        self._f = f
        self._end = end
        f.seek(first)
        self.seek = f.seek
        self.tell = f.tell
        self.fileno = f.fileno

    def read(self, n: int | None = -1) -> bytes:
        left = self._end - self._f.tell()
        if left <= 0:
            return b""
        return self._f.read(
            min(left, MAX_READ_BYTES) if n is None or n < 0 else min(n, left, MAX_READ_BYTES)
        )

    def close(self) -> None:
        self._f.close()


def file_etag(st: os.stat_result) -> str:
    """The strong entity tag of a file on the card (inode, size, modification time)."""
    return f"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"


def _http_date(header: str | None) -> datetime | None:
    """An HTTP date, or None if absent or invalid (an invalid one is ignored, RFC 9110)."""
    if not header or len(header) > 100:
        return None
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _tags(header: str) -> list[str]:
    """The entity tags of an If-None-Match header, weakness dropped (weak comparison)."""
    out = []
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        out.append(tag.strip('"'))
    return out


Header = Callable[[str], "str | None"]


def precondition_failed(header: Header, etag: str, modified: datetime) -> bool:
    """True if If-Match or If-Unmodified-Since fails (412; RFC 9110 13.2.2: If-Match wins).

    Args:
        header: Returns a request header by name, or None.
        etag: The file's entity tag (without quotes).
        modified: The file's modification time (whole seconds).
    """
    if_match = header("If-Match")
    if if_match is not None:
        tags = [t.strip() for t in if_match.split(",")]
        return "*" not in tags and f'"{etag}"' not in tags  # strong comparison
    since = _http_date(header("If-Unmodified-Since"))
    return since is not None and modified > since


def not_modified(header: Header, etag: str, modified: datetime) -> bool:
    """True if the client's copy is current (RFC 9110 13.2.2: If-None-Match wins)."""
    inm = header("If-None-Match")
    if inm is not None:
        tags = _tags(inm)
        return "*" in tags or etag in tags
    since = _http_date(header("If-Modified-Since"))
    return since is not None and modified <= since


def range_applies(header: Header, etag: str, modified: datetime) -> bool:
    """False if an If-Range validator is stale (then the whole file is served)."""
    if_range = header("If-Range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return if_range == f'"{etag}"'  # strong comparison: a weak tag never matches
    when = _http_date(if_range)
    return when is not None and when == modified


def send_file(
    req: falcon.Request, resp: falcon.Response, root: str, path: str, download_name: str | None
) -> None:
    """Answer with the file at ``path`` below ``root``, honouring conditions and Range."""
    fd = open_below(root, path)
    f = os.fdopen(fd, "rb")
    try:
        _send(req, resp, f, path, download_name)
    except BaseException:
        f.close()
        raise


def _send(req, resp, f, path: str, download_name: str | None) -> None:
    st = os.fstat(f.fileno())
    size = st.st_size
    etag = file_etag(st)
    modified = datetime.fromtimestamp(int(st.st_mtime), UTC)
    resp.content_type = CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")
    resp.accept_ranges = "bytes"
    resp.cache_control = ["private", "max-age=3600"]
    resp.etag = etag
    resp.last_modified = modified
    if download_name:
        resp.downloadable_as = download_name
    if precondition_failed(req.get_header, etag, modified):
        f.close()
        raise falcon.HTTPPreconditionFailed(
            description="the file is not the one If-Match or If-Unmodified-Since names"
        )
    if not_modified(req.get_header, etag, modified):
        f.close()
        resp.status = falcon.HTTP_304
        return
    wanted = None
    header = req.get_header("Range")
    if header and range_applies(req.get_header, etag, modified):
        wanted = parse_range(header, size)
    first, last = wanted if wanted is not None else (0, size - 1)
    length = last - first + 1 if size else 0
    if wanted is not None:
        resp.status = falcon.HTTP_206
        resp.content_range = (first, last, size)
    if req.method == "HEAD":
        f.close()
        resp.content_length = length
        return
    resp.set_stream(FileSlice(f, first, first + length), length)


def download_name(item: Item) -> str:
    """The name an item is saved under (``dashcam_<stamp>_<seq>.mp4``)."""
    return f"dashcam_{item.stamp}_{item.id}{os.path.splitext(item.path)[1]}"


_ANSWERS = {
    200: Reply("The whole file"),
    206: Reply("The range asked for"),
    304: Reply("Not modified (If-None-Match, If-Modified-Since)"),
}
#: The ``Range`` request header, as an OpenAPI parameter of the file-serving operations.
RANGE_PARAM = {"Range": {"in": "header", "schema": {"type": "string", "example": "bytes=0-1023"}}}
DOWNLOAD = {"type": "object", "properties": {"download": {"type": "boolean"}}}


class Media:
    """``/media/{item_id}``: a clip or photo (``?download=1`` names it for saving)."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library

    @operation(
        "The clip or photo; byte ranges; ?download=1 to save",
        _ANSWERS,
        query=DOWNLOAD,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item = self.library.get(item_id)
        download = req.context.query.get("download", False)
        send_file(
            req, resp, self.library.root, item.path, download_name(item) if download else None
        )

    on_head = on_get

    @operation(
        "The clip under a name with its extension (HLS clients check it)",
        _ANSWERS,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get_mp4(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item = self.library.get(item_id)
        if not item.is_video:
            raise NotFound(f"item {item.id} is a photo, not an MP4")
        send_file(req, resp, self.library.root, item.path, None)

    on_head_mp4 = on_get_mp4

    @operation("The item's thumbnail (JPEG)", _ANSWERS, errors=(412, 416), params=RANGE_PARAM)
    def on_get_thumb(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item = self.library.get(item_id)
        if item.thumb is None:
            raise NotFound(f"item {item.id} has no thumbnail yet")
        send_file(req, resp, self.library.root, item.thumb, None)

    on_head_thumb = on_get_thumb
