"""Playback beyond the file itself: an incident's export, a ZIP of items.

A clip and an incident are played as one ordinary MP4 each (:mod:`web.resources.video`).
Every large body here goes to the client only as fast as it reads (:mod:`web.bodies`):
the ZIP is pulled by the server, the export is a file.

An export is one plain MP4 of an incident with its evidence beside it (merged track,
signed manifest, public key: :func:`appliance.export.export_incident`) in
``DCIM/EXPORT``: never an item (the card scan does not look there), one at a time, the
previous one deleted first and every one at start; ``export.zip`` streams them together.
Room is made as the recorder makes it (the oldest loop clips go) and the export is refused
when the reserve would not hold.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Any

import falcon

from appliance.errors import NotFound
from appliance.export import Evidence, export_incident
from appliance.items import DCIM, Item
from appliance.library import Library
from appliance.share import travelling_files
from appliance.worker import Worker
from web.media import RANGE_PARAM, download_name, send_file
from web.resources.incidents import find_incident, incident_items
from web.spec import Component, Deps, Reply, operation
from web.zipstream import ZipPlan

log = logging.getLogger(__name__)

#: The export folder, below DCIM.
EXPORT_DIR = "EXPORT"
#: Items one ZIP may hold.
MAX_ZIP_ITEMS = 500
#: Bytes an export may take beyond the clips it joins (its index).
EXPORT_MARGIN_BYTES = 1024 * 1024
#: Niceness of the export thread (the recorder and the requests go first).
EXPORT_NICENESS = 10

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
        self.controller = deps.controller
        self.export_dir = os.path.join(self.library.root, DCIM, EXPORT_DIR)
        self._exporting = threading.Lock()
        _clear(self.export_dir)

    # ----------------------------------------------------------------- export

    @operation(
        "Export the incident as one plain MP4 (stream copy); one export at a time",
        {201: Reply("Exported: GET its url", EXPORTED)},
        errors=(409, 503, 507),
    )
    def on_post_export(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        if not incident.complete:
            raise falcon.HTTPConflict(
                description=f"incident {incident_id}: its next clip is still recording; "
                "export it once that clip has closed"
            )
        items = [item for item in incident_items(self.library, incident) if item.is_video]
        if not items:
            raise NotFound(f"incident {incident_id} has no clips left")
        if not self._exporting.acquire(blocking=False):
            raise falcon.HTTPConflict(description="an export is running: try again when it ends")
        try:
            path, evidence = self._export(incident_id, items)
        finally:
            self._exporting.release()
        resp.status = falcon.HTTP_201
        resp.media = {
            "url": f"/api/incidents/{incident_id}/export",
            "bundle_url": f"/api/incidents/{incident_id}/export.zip",
            "files": [name for name, _ in evidence.files],
            "name": _export_name(incident_id, items[0]),
            "size": os.path.getsize(path),
            "frames": evidence.frames,
        }

    @operation(
        "Download the incident's export (made by POST)",
        _FILE,
        errors=(412, 416),
        params=RANGE_PARAM,
    )
    def on_get_export(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        path = self._export_path(incident.id)
        if not os.path.lexists(path):
            raise NotFound(f"incident {incident_id} has no export now: export it again")
        items = incident_items(self.library, incident)
        name = _export_name(incident_id, items[0]) if items else os.path.basename(path)
        send_file(req, resp, self.library.root, path, name)

    on_head_export = on_get_export

    @operation(
        "The incident's export and its evidence as one ZIP: the MP4, the merged track (GPX, "
        "SRT), the signed manifest (.chain) and the device's public key (.pub)",
        {200: Reply("The ZIP", {"type": "string", "format": "binary"}, "application/zip")},
    )
    def on_get_bundle(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        incident = find_incident(self.library.incidents(), incident_id)
        path = self._export_path(incident.id)
        if not os.path.lexists(path):
            raise NotFound(f"incident {incident_id} has no export now: export it again")
        items = incident_items(self.library, incident)
        stem = os.path.splitext(_export_name(incident_id, items[0]))[0] if items else "export"
        base = os.path.splitext(path)[0]
        members = []
        for entry in sorted(os.scandir(self.export_dir), key=lambda e: e.name):
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

    def _export_path(self, incident_id: int) -> str:
        return os.path.join(self.export_dir, f"incident-{incident_id:08d}.mp4")

    def _export(self, incident_id: int, items: list[Item]) -> tuple[str, Evidence]:
        """Make room, then join the clips on a low-priority thread, with their evidence
        (:func:`appliance.export.export_incident`).

        Returns:
            The MP4's path and what was exported.
        """
        _clear(self.export_dir)
        if os.path.islink(self.export_dir):
            raise falcon.HTTPServiceUnavailable(description="DCIM/EXPORT is a symbolic link")
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.export_dir)
        wanted = sum(item.size for item in items) + EXPORT_MARGIN_BYTES
        room = self.library.prune(writing=items[-1].seq, headroom_bytes=wanted)
        self.controller.refresh()
        if not room.ok:
            raise falcon.HTTPInsufficientStorage(
                description=f"the card has no room for a {wanted / 1e6:.0f} MB export "
                "beside its reserve: delete or unprotect clips first"
            )
        path = self._export_path(incident_id)
        outcome: dict[str, Any] = {}

        def join() -> None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), EXPORT_NICENESS)
            outcome["evidence"] = export_incident(
                items,
                path,
                incident_id=incident_id,
                stem=os.path.splitext(_export_name(incident_id, items[0]))[0],
                key=self.library.device_key,
                unit=self.controller.config.speed_unit,
            )

        worker = Worker(join, "export", on_error=lambda _name, exc: outcome.update(error=exc))
        worker.start().join(None)
        error = outcome.get("error")
        if isinstance(error, FileNotFoundError):
            raise falcon.HTTPConflict(description="a clip was deleted during the export")
        if isinstance(error, ValueError):  # ExportError, or a clip FFmpeg cannot read
            raise falcon.HTTPConflict(description=f"cannot export: {error}")
        if error is not None:
            raise error
        self.controller.refresh()
        return path, outcome["evidence"]

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


def _export_name(incident_id: int, first: Item) -> str:
    return f"dashcam_{first.stamp}_incident{incident_id}.mp4"


def _clear(folder: str) -> None:
    """Delete the files of the export folder (never following a symlink)."""
    if os.path.islink(folder):
        return
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_file(follow_symlinks=False) or entry.is_symlink():
            try:
                os.unlink(entry.path)
            except OSError as exc:
                log.warning("could not delete the old export %s: %s", entry.name, exc)
