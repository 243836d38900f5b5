"""Playback beyond the file itself: an incident's export, a ZIP of items.

A clip and an incident are played as one ordinary MP4 each (:mod:`web.resources.video`).
Every large body here goes to the client only as fast as it reads (:mod:`web.bodies`):
the ZIP is pulled by the server, the export is a file.

The export itself is the core's (:class:`appliance.export_service.Exports`: the folder, one at a
time, room, the evidence); here it is mapped to HTTP: a refusal to 409, 503 or 507.
"""

from __future__ import annotations

import logging
import os

import falcon

from appliance import export_service
from appliance.errors import NotFound
from appliance.items import Item
from appliance.library import Library
from appliance.share import travelling_files
from web.media import RANGE_PARAM, download_name, send_file
from web.resources.incidents import find_incident, incident_items
from web.spec import Component, Deps, Reply, operation
from web.zipstream import ZipPlan

log = logging.getLogger(__name__)

#: Items one ZIP may hold.
MAX_ZIP_ITEMS = 500
#: The answer to each kind of refused export.
_REFUSED = {
    export_service.ExportBusy: falcon.HTTPConflict,
    export_service.StillRecording: falcon.HTTPConflict,
    export_service.ClipsChanged: falcon.HTTPConflict,
    export_service.FolderRefused: falcon.HTTPServiceUnavailable,
    export_service.NoRoom: falcon.HTTPInsufficientStorage,
}

EXPORTED = Component(
    "Export",
    {
        "type": "object",
        "required": ["url", "name", "size", "frames"],
        "properties": {
            "url": {"type": "string", "description": "GET it to download the MP4"},
            "bundle_url": {
                "type": "string",
                "description": "GET it for a ZIP of the MP4 and its evidence: the merged "
                "track (GPX, SRT), the signed manifest (.chain) and the device's public key",
            },
            "files": {"type": "array", "items": {"type": "string"}},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "frames": {"type": "integer"},
        },
    },
)
ZIP_QUERY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["ids"],
    "properties": {
        "ids": {
            "type": "string",
            "minLength": 1,
            "maxLength": 20_000,
            "pattern": r"^[0-9]{1,12}(,[0-9]{1,12})*$",
            "description": f"Sequence numbers, comma-separated (at most {MAX_ZIP_ITEMS})",
        }
    },
}
_FILE = {200: Reply("The export"), 206: Reply("The range asked for"), 304: Reply("Not modified")}


class Playback:
    """The incident's export (and its evidence as a ZIP), ``items.zip``."""

    def __init__(self, deps: Deps) -> None:
        self.library: Library = deps.library
        self.exports: export_service.Exports = deps.controller.exports

    # ----------------------------------------------------------------- export

    @operation(
        "Export the incident as one plain MP4 (stream copy); one export at a time",
        {201: Reply("Exported: GET its url", EXPORTED)},
        errors=(409, 503, 507),
    )
    def on_post_export(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        items = [item for item in incident_items(self.library, incident) if item.is_video]
        if not items and incident.complete:  # else: refused as still recording
            raise NotFound(f"incident {incident_id} has no clips left")
        try:
            made = self.exports.export(incident_id, items, complete=incident.complete)
        except export_service.ExportRefused as refused:
            raise _REFUSED[type(refused)](description=str(refused)) from refused
        resp.status = falcon.HTTP_201
        resp.media = {
            "url": f"/api/incidents/{incident_id}/export",
            "bundle_url": f"/api/incidents/{incident_id}/export.zip",
            "files": [name for name, _ in made.evidence.files],
            "name": made.name,
            "size": os.path.getsize(made.path),
            "frames": made.evidence.frames,
        }

    @operation(
        "Download the incident's export (made by POST)",
        _FILE,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get_export(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        path = self.exports.path(incident.id)
        if not os.path.lexists(path):
            raise NotFound(f"incident {incident_id} has no export now: export it again")
        items = incident_items(self.library, incident)
        name = (
            export_service.export_name(incident_id, items[0]) if items else os.path.basename(path)
        )
        send_file(req, resp, self.library.root, path, name)

    on_head_export = on_get_export

    @operation(
        "The incident's export and its evidence as one ZIP: the MP4, the merged track (GPX, "
        "SRT), the signed manifest (.chain) and the device's public key (.pub)",
        {200: Reply("The ZIP", {"type": "string", "format": "binary"}, "application/zip")},
    )
    def on_get_bundle(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        path = self.exports.path(incident.id)
        if not os.path.lexists(path):
            raise NotFound(f"incident {incident_id} has no export now: export it again")
        items = incident_items(self.library, incident)
        stem = (
            os.path.splitext(export_service.export_name(incident_id, items[0]))[0]
            if items
            else "export"
        )
        base = os.path.splitext(path)[0]
        members = []
        for entry in sorted(os.scandir(self.exports.folder), key=lambda e: e.name):
            if not entry.is_file(follow_symlinks=False) or entry.name.endswith(".tmp"):
                continue
            name = entry.name
            if entry.path.startswith(base + "."):
                name = stem + entry.name[len(os.path.basename(base)) :]
            members.append((name, entry.path))
        resp.content_type = "application/zip"
        resp.cache_control = ["no-store"]
        resp.downloadable_as = f"{stem}.zip"
        plan = ZipPlan(self.library.root, members)
        resp.set_stream(plan.body(), plan.length)

    # ----------------------------------------------------------------- zip

    @operation(
        f"Items as one ZIP, streamed (?ids=1,2,3; at most {MAX_ZIP_ITEMS})",
        {200: Reply("The ZIP", {"type": "string", "format": "binary"}, "application/zip")},
        query=ZIP_QUERY,
        errors=(404,),
    )
    def on_get_zip(self, req: falcon.Request, resp: falcon.Response) -> None:
        seqs = list(dict.fromkeys(int(s) for s in req.context.query["ids"].split(",")))
        if len(seqs) > MAX_ZIP_ITEMS:
            raise falcon.HTTPBadRequest(
                description=f"ids: at most {MAX_ZIP_ITEMS} items per ZIP, got {len(seqs)}"
            )
        items = [self.library.get(seq) for seq in seqs]  # NotFound names the missing one
        newest = max(items, key=lambda item: item.seq)
        resp.content_type = "application/zip"
        resp.cache_control = ["no-store"]
        resp.downloadable_as = f"dashcam_{newest.stamp}_{len(items)}items.zip"
        plan = ZipPlan(self.library.root, _zip_files(items))
        resp.set_stream(plan.body(), plan.length)


def _zip_files(items: list[Item]) -> list[tuple[str, str]]:
    """(name in the ZIP, path on the card) of the files a ZIP of ``items`` holds: each item
    under its download name, and its sidecars beside it under the same base name
    (:func:`appliance.share.travelling_files`)."""
    members = []
    for item in items:
        stem = os.path.splitext(download_name(item))[0]
        for _share, path in travelling_files(item):
            members.append((stem + os.path.splitext(path)[1], path))
    return members
