"""A clip's GPS track: its points for the dashboard, its GPX and SRT files to download.

The files are those :class:`appliance.track_recorder.TrackRecorder` wrote beside the clip; a
clip recorded without a fix (or without GPS) has none, and every answer about it is a 404
that says so.
"""

from __future__ import annotations

import os

import falcon

from appliance.errors import NotFound
from appliance.gps_track import gpx_points
from appliance.library import Item
from web.media import RANGE_PARAM, open_below, send_file
from web.spec import Component, Deps, Reply, operation

#: Largest GPX read for the points (a 10 min clip at 1 Hz is about 100 KB).
MAX_GPX_BYTES = 4 * 1024 * 1024

TRACK = Component(
    "Track",
    {
        "type": "object",
        "required": ["points", "gpx_url", "srt_url"],
        "properties": {
            "points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["t_s", "lat", "lon", "speed_mps"],
                    "properties": {
                        "t_s": {"type": "number", "description": "Seconds from the clip's start"},
                        "lat": {"type": "number"},
                        "lon": {"type": "number"},
                        "speed_mps": {"type": ["number", "null"]},
                    },
                },
            },
            "gpx_url": {"type": "string"},
            "srt_url": {"type": "string"},
        },
    },
)
_FILE = {
    200: Reply("The whole file"),
    206: Reply("The range asked for"),
    304: Reply("Not modified (If-None-Match, If-Modified-Since)"),
}
#: The files' types: GPX (its registered type) and SubRip subtitles.
GPX_TYPE = "application/gpx+xml"
SRT_TYPE = "application/x-subrip"


class Track:
    """``/api/items/{item_id}/track`` (points), ``.../track.gpx`` and ``.../track.srt``."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library

    def _paths(self, item_id: int) -> tuple[Item, str, str]:
        item = self.library.get(item_id)
        gpx, srt = self.library.track_paths(item)
        return item, gpx, srt

    @operation(
        "A clip's GPS track: its points, timed from the clip's start",
        {200: Reply("The track", TRACK)},
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item, gpx, _ = self._paths(item_id)
        try:
            fd = open_below(self.library.root, gpx)
        except falcon.HTTPNotFound:
            raise _no_track(item) from None
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_GPX_BYTES + 1)
        try:
            if len(data) > MAX_GPX_BYTES:
                raise ValueError(f"larger than {MAX_GPX_BYTES} bytes")
            points = gpx_points(data)
        except ValueError as exc:
            raise NotFound(f"the track of clip {item.id} cannot be read: {exc}") from None
        base = f"/api/items/{item.id}/track"
        resp.media = {"points": points, "gpx_url": f"{base}.gpx", "srt_url": f"{base}.srt"}
        resp.cache_control = ["no-store"]

    @operation("The clip's track as GPX 1.1 (a download)", _FILE, errors=(416,), params=RANGE_PARAM)
    def on_get_gpx(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item, gpx, _ = self._paths(item_id)
        self._send(req, resp, item, gpx, GPX_TYPE)

    on_head_gpx = on_get_gpx

    @operation(
        "The clip's track as SRT subtitles (a download)", _FILE, errors=(416,), params=RANGE_PARAM
    )
    def on_get_srt(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item, _, srt = self._paths(item_id)
        self._send(req, resp, item, srt, SRT_TYPE)

    on_head_srt = on_get_srt

    def _send(self, req, resp, item: Item, path: str, content_type: str) -> None:
        ext = os.path.splitext(path)[1]
        try:
            send_file(req, resp, self.library.root, path, f"dashcam_{item.stamp}_{item.id}{ext}")
        except falcon.HTTPNotFound:
            raise _no_track(item) from None
        resp.content_type = content_type


def _no_track(item: Item) -> NotFound:
    return NotFound(f"clip {item.id} has no GPS track (no fix while it recorded, or no GPS)")
