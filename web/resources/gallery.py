"""The gallery: pages of items, the days, one item (delete, protect, unprotect)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import falcon

from appliance.exif import utc_offset_text
from appliance.items import stamp_wall_s
from appliance.library import Item, Kind, Library
from web.spec import Component, Deps, Reply, operation

DEFAULT_PAGE = 50
MAX_PAGE = 200
#: The largest ``before`` cursor taken (past any sequence number a card reaches).
MAX_SEQ = 10**12

ITEM = Component(
    "Item",
    {
        "type": "object",
        "required": ["id", "seq", "kind", "url"],
        "properties": {
            "id": {"type": "string"},
            "seq": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in Kind]},
            "video": {"type": "boolean"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "day": {"type": "string"},
            "stamp": {"type": "string"},
            "utc_offset": {
                "type": "string",
                "description": "The UTC offset of the local time day and stamp are in: +01:00",
            },
            "duration_s": {"type": ["number", "null"]},
            "url": {"type": "string"},
            "download_url": {"type": "string"},
            "thumb_url": {"type": ["string", "null"]},
            "uploaded": {"type": "boolean", "description": "Sent to the upload remote"},
            "track": {"type": "boolean", "description": "A clip with a GPS track"},
        },
    },
)
PAGE = Component(
    "Page",
    {
        "type": "object",
        "required": ["items", "next_before"],
        "properties": {
            "items": {"type": "array", "items": ITEM},
            "next_before": {"type": ["integer", "null"]},
        },
    },
)
PAGE_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"type": "array", "items": {"type": "string", "enum": [k.value for k in Kind]}},
        "day": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"},
        "before": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SEQ,
            "description": "Cursor: seq of the last item",
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
}
_ITEM = {200: Reply("The item", ITEM)}


def item_dict(item: Item, library: Library) -> dict[str, Any]:
    """An item of ``library`` as the API shows it (no paths of the card)."""
    return {
        "id": item.id,
        "seq": item.seq,
        "kind": item.kind.value,
        "video": item.is_video,
        "name": item.name,
        "size": item.size,
        "day": item.day,
        "stamp": item.stamp,
        "utc_offset": utc_offset_text(stamp_wall_s(item.stamp)),
        "duration_s": item.duration_s,
        "url": f"/media/{item.id}",
        "download_url": f"/media/{item.id}?download=1",
        "thumb_url": f"/media/{item.id}/thumb" if item.thumb else None,
        "uploaded": item.seq in library.uploaded,
        "track": item.is_video and os.path.exists(library.track_paths(item)[0]),
    }


class Items:
    """``/api/items``: the gallery, newest first, one page at a time."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library

    @operation(
        "Clips and photos, newest first, one page", {200: Reply("A page", PAGE)}, query=PAGE_QUERY
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        kinds = {Kind(k) for k in query["kind"]} if query.get("kind") else None
        limit = query.get("limit", DEFAULT_PAGE)
        items = self.library.page(
            kinds=kinds, day=query.get("day"), before=query.get("before"), limit=limit
        )
        resp.media = {
            "items": [item_dict(i, self.library) for i in items],
            "next_before": items[-1].seq if len(items) == limit else None,
        }
        resp.cache_control = ["no-store"]


class Days:
    """``/api/days``: the days that have items, newest first, and counts per kind."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library

    @operation("Days with items", {200: Reply("Days, newest first", {"type": "object"})})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "days": self.library.days(),
            "counts": {k.value: n for k, n in self.library.counts().items()},
        }
        resp.cache_control = ["no-store"]


class ItemResource:
    """``/api/items/{item_id}``: one item; delete; ``.../protection`` PUT / DELETE."""

    def __init__(self, deps: Deps) -> None:
        self.library = deps.library

    @operation("One item", _ITEM)
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        resp.media = item_dict(self.library.get(item_id), self.library)

    @operation("Delete a clip or photo", {204: Reply("Deleted")}, errors=(409,))
    def on_delete(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        self._change(resp, lambda: self.library.delete(item_id))
        resp.status = falcon.HTTP_204

    @operation("Protect a loop clip", _ITEM, errors=(409,))
    def on_put_protection(self, req: falcon.Request, resp: falcon.Response, item_id: int):
        item = self._change(resp, lambda: self.library.protect(item_id))
        resp.media = item_dict(item, self.library)

    @operation("Back into the loop", _ITEM, errors=(409,))
    def on_delete_protection(self, req: falcon.Request, resp: falcon.Response, item_id: int):
        item = self._change(resp, lambda: self.library.unprotect(item_id))
        resp.media = item_dict(item, self.library)

    def _change(self, resp: falcon.Response, change: Callable[[], Any]) -> Any:
        try:
            result = change()
        except ValueError as exc:
            raise falcon.HTTPConflict(description=str(exc)) from None
        return result  # the library reports the change: the status follows by itself
