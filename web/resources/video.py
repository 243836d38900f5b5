"""A closed clip, or an incident's clips as one, served as an ordinary MP4 that is never
written anywhere (:mod:`appliance.media.progressive`): every browser and player sees one file
with its whole duration in its first bytes, and seeks anywhere in it by range.

The header (``ftyp`` + ``moov`` + the ``mdat`` header) is made in memory from the clips'
fragment tables and kept (:class:`appliance.media.progressive.ProgressiveCache`); the rest of
every answer is read from the clips as the client reads it (:class:`web.bodies.PulledBody`,
one read of at most :data:`web.bodies.READ_BYTES` at a time), so an answer holds a chunk,
never the file. A clip that changes or goes while it is being sent cuts the answer
(:class:`web.bodies.BodyCut`): a player sees a cut download, never wrong bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

import falcon

from appliance.errors import NotFound
from appliance.items import Item, stamp_wall_s
from appliance.library import Library
from appliance.media.fragments import LayoutError
from appliance.media.progressive import Progressive, ProgressiveCache
from web.bodies import READ_BYTES, BodyCut, PulledBody
from web.media import (
    RANGE_PARAM,
    not_modified,
    open_below,
    parse_range,
    precondition_failed,
    range_applies,
)
from web.spec import Deps, Reply, operation

#: The plans of the files asked for lately (shared: a plan is keyed by its clips' identity).
PLANS = ProgressiveCache()

VERSION_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "v": {
            "type": "string",
            "maxLength": 200,
            "description": "Ignored: a client names the clips it expects (1-2-3), so that an "
            "incident grown since is a new address to its media cache",
        }
    },
}
_ANSWERS = {
    200: Reply("The whole virtual MP4", {"type": "string", "format": "binary"}, "video/mp4"),
    206: Reply("The range asked for"),
    304: Reply("Not modified (If-None-Match, If-Modified-Since)"),
}


def plan_of(items: list[Item]) -> Progressive:
    """The plan of the virtual MP4 of ``items`` (clips, in order).

    Raises:
        NotFound: None of them can be played.
    """
    try:
        return PLANS.get([item.path for item in items])[0]
    except LayoutError as exc:
        raise NotFound(f"nothing to play: {exc}") from None


def timeline(items: list[Item], moment_wall_s: float | None = None) -> dict[str, Any] | None:
    """Where each clip of ``items`` plays in their virtual MP4 (the API's ``timeline``):
    its seconds from the start and its length, and where ``moment_wall_s`` (epoch seconds)
    falls on it (``moment_s``, to the clips' stamps' whole second); None when none can be
    played."""
    try:
        plan = plan_of([item for item in items if item.is_video])
    except NotFound:
        return None
    by_path = {item.path: item for item in items}
    clips = [
        {"seq": by_path[path].seq, "start_s": round(start, 3), "duration_s": round(length, 3)}
        for path, start, length in zip(plan.sources, plan.starts_s, plan.durations_s, strict=True)
    ]
    out: dict[str, Any] = {"duration_s": round(plan.duration_s, 3), "clips": clips}
    start_wall_s = stamp_wall_s(by_path[plan.sources[0]].stamp)
    if moment_wall_s is not None and start_wall_s > 0:
        out["moment_s"] = round(min(max(0.0, moment_wall_s - start_wall_s), plan.duration_s), 3)
    return out


class _Body:
    """The chunks of bytes ``first`` to ``end`` of a virtual MP4, read from the clips'
    open files at most :data:`READ_BYTES` at a time; owns the files."""

    def __init__(self, plan: Progressive, fds: list[int], first: int, end: int) -> None:
        self._plan = plan
        self._fds: list[int] | None = fds
        self._parts = plan.parts(first, end)
        self._run: list[int] | None = None  # [source, offset, bytes left]

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        if self._fds is None:
            raise StopIteration
        while True:
            if self._run is not None and self._run[2] > 0:
                source, offset, left = self._run
                chunk = os.pread(self._fds[source], min(READ_BYTES, left), offset)
                if not chunk:
                    self.close()
                    raise BodyCut("a clip is shorter than when the answer began")
                self._run = [source, offset + len(chunk), left - len(chunk)]
                return chunk
            try:
                source, offset, size = next(self._parts)
            except StopIteration:
                self.close()
                raise
            if source < 0:
                return self._plan.header[offset : offset + size]
            self._run = [source, offset, size]

    def close(self) -> None:
        fds, self._fds = self._fds, None
        for fd in fds or ():
            os.close(fd)


def _open(library: Library, items: list[Item]) -> tuple[Progressive, list[int], list[Any]]:
    """The plan of ``items`` and its clips opened, each checked to be the file planned.

    Raises:
        NotFound: Nothing to play, or a clip went.
        falcon.HTTPServiceUnavailable: The clips keep changing under the plan.
    """
    for _attempt in range(2):
        try:
            plan, keys = PLANS.get([item.path for item in items])
        except LayoutError as exc:
            raise NotFound(f"nothing to play: {exc}") from None
        fds: list[int] = []
        stats = []
        try:
            for path in plan.sources:
                fds.append(open_below(library.root, path))
                stats.append(os.fstat(fds[-1]))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        if all(
            (st.st_ino, st.st_size, st.st_mtime_ns) == key
            for st, key in zip(stats, keys, strict=True)
        ):
            return plan, fds, stats
        for fd in fds:
            os.close(fd)
    raise falcon.HTTPServiceUnavailable(
        description="the clips changed while being read: try again", retry_after=1
    )


def send_virtual(
    req: falcon.Request, resp: falcon.Response, library: Library, items: list[Item], name: str
) -> None:
    """Answer with the virtual MP4 of ``items``, honouring conditions and Range."""
    plan, fds, stats = _open(library, items)
    try:
        identity = repr([(st.st_ino, st.st_size, st.st_mtime_ns) for st in stats])
        etag = "v" + hashlib.sha256(identity.encode()).hexdigest()[:24]
        modified = datetime.fromtimestamp(int(max(st.st_mtime for st in stats)), UTC)
        resp.accept_ranges = "bytes"
        resp.etag = etag
        resp.last_modified = modified
        if precondition_failed(req.get_header, etag, modified):
            raise falcon.HTTPPreconditionFailed(
                description="the video is not the one If-Match or If-Unmodified-Since names"
            )
        if not_modified(req.get_header, etag, modified):
            resp.status = falcon.HTTP_304
            resp.content_type = None
            raise _Done
        resp.content_type = "video/mp4"
        resp.set_header("Content-Disposition", f'inline; filename="{name}"')
        wanted = None
        header = req.get_header("Range")
        if header and range_applies(req.get_header, etag, modified):
            wanted = parse_range(header, plan.length)
        first, last = wanted if wanted is not None else (0, plan.length - 1)
        if wanted is not None:
            resp.status = falcon.HTTP_206
            resp.content_range = (first, last, plan.length)
        length = last - first + 1
        if req.method == "HEAD":
            resp.content_length = length
            raise _Done
    except _Done:
        _close_all(fds)
        return
    except BaseException:
        _close_all(fds)
        raise
    resp.set_stream(PulledBody(_Body(plan, fds, first, last + 1), length), length)


class _Done(Exception):
    """The answer is whole without a body (HEAD, 304)."""


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Video:
    """``/api/items/{id}/video.mp4`` and ``/api/incidents/{id}/video.mp4``: a closed clip,
    or an incident's clips one after the other, as one ordinary MP4 (byte ranges)."""

    def __init__(self, deps: Deps) -> None:
        self.library: Library = deps.library

    @operation(
        "The closed clip as an ordinary MP4 (its index first: duration and seeking from "
        "the first bytes); byte ranges",
        _ANSWERS,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item = self.library.get(item_id)
        if not item.is_video:
            raise NotFound(f"item {item.id} is a photo: nothing to play")
        resp.cache_control = ["private", "max-age=3600"]
        send_virtual(req, resp, self.library, [item], f"dashcam_{item.stamp}_{item.id}.mp4")

    on_head_item = on_get_item

    @operation(
        "The incident's closed clips as one ordinary MP4, one time line across them (what "
        "the incident's timeline lists); byte ranges",
        _ANSWERS,
        query=VERSION_QUERY,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get_incident(self, req: falcon.Request, resp: falcon.Response, incident_id: int) -> None:
        from web.resources.incidents import find_incident, incident_items

        incident = find_incident(self.library.incidents(), incident_id)
        items = [item for item in incident_items(self.library, incident) if item.is_video]
        if not items:
            raise NotFound(f"incident {incident_id} has no clips left")
        # It grows while the incident records, and shrinks if a clip is deleted.
        resp.cache_control = ["private", "no-cache"]
        name = f"dashcam_{items[0].stamp}_incident{incident_id}.mp4"
        send_virtual(req, resp, self.library, items, name)

    on_head_incident = on_get_incident
