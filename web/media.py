"""Clips, photos and thumbnails over HTTP with byte ranges (Safari needs them to seek).

A file is found by its sequence number in the library; a name from the URL is never
joined into a path.
"""

from __future__ import annotations

import os
import re

import falcon

from appliance.errors import NotFound
from appliance.library import Item, Library

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_ID_RE = re.compile(r"^\d{1,12}$")
CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}


def parse_id(raw: str) -> int:
    """A sequence number from a URL segment ("00000123" or "123").

    Raises:
        falcon.HTTPNotFound: anything but 1 to 12 digits.
    """
    if not _ID_RE.match(raw):
        raise falcon.HTTPNotFound(description=f"no item {raw[:40]!r}: ids are 1 to 12 digits")
    return int(raw)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range ``(first, last)`` asked for, clipped to the file.

    Returns:
        None if the header is not a single byte range we understand (serve the whole file).

    Raises:
        falcon.HTTPRangeNotSatisfiable: the range starts past the end (or the file is empty).
    """
    m = _RANGE_RE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else max(first, size - 1)
        if last < first:
            return None  # syntactically invalid: ignored, as RFC 9110 says
    else:
        suffix = int(m.group(2))
        if suffix == 0:
            raise falcon.HTTPRangeNotSatisfiable(size)
        first, last = max(0, size - suffix), size - 1
    if first >= size:
        raise falcon.HTTPRangeNotSatisfiable(size)
    return first, min(last, size - 1)


class _Slice:
    """A file object that reads at most ``length`` bytes from ``offset``."""

    def __init__(self, f, offset: int, length: int) -> None:
        self._f = f
        self._left = length
        f.seek(offset)

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._f.close()


def send_file(req: falcon.Request, resp: falcon.Response, path: str, download_name: str | None):
    """Answer with the file at ``path`` (a path from the library), honouring Range."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - Falcon closes the stream
    except FileNotFoundError:
        raise falcon.HTTPNotFound(description="the file is gone from the card") from None
    size = os.fstat(f.fileno()).st_size
    resp.content_type = CONTENT_TYPES.get(os.path.splitext(path)[1], "application/octet-stream")
    resp.accept_ranges = "bytes"
    resp.cache_control = ["private", "max-age=3600"]
    if download_name:
        resp.downloadable_as = download_name
    wanted = None
    if req.range_unit in (None, "bytes") and req.get_header("Range"):
        try:
            wanted = parse_range(req.get_header("Range"), size)
        except falcon.HTTPRangeNotSatisfiable:
            f.close()
            raise
    if req.method == "HEAD":
        f.close()
        resp.content_length = size if wanted is None else wanted[1] - wanted[0] + 1
        if wanted is not None:
            resp.status = falcon.HTTP_206
            resp.content_range = (wanted[0], wanted[1], size)
        return
    if wanted is None:
        resp.set_stream(f, size)
        return
    first, last = wanted
    resp.status = falcon.HTTP_206
    resp.content_range = (first, last, size)
    resp.set_stream(_Slice(f, first, last - first + 1), last - first + 1)


class Media:
    """``/media/{item_id}``: a clip or photo (``?download=1`` names it for saving)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def _item(self, item_id: str) -> Item:
        return self.library.get(parse_id(item_id))

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: str) -> None:
        item = self._item(item_id)
        name = f"dashcam_{item.stamp}_{item.id}{os.path.splitext(item.path)[1]}"
        download = req.get_param_as_bool("download", default=False)
        send_file(req, resp, item.path, name if download else None)

    on_head = on_get

    def on_get_thumb(self, req: falcon.Request, resp: falcon.Response, item_id: str) -> None:
        item = self._item(item_id)
        if item.thumb is None:
            raise NotFound(f"item {item.id} has no thumbnail yet")
        send_file(req, resp, item.thumb, None)

    on_head_thumb = on_get_thumb
