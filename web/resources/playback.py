"""Playback beyond the file itself: HLS playlists, an incident's export, a ZIP of items.

Playlists address the clips on the card by byte range (``/media/{seq}``), so nothing is
copied (:mod:`appliance.fmp4`). Each clip's fragment times start at zero, and FFmpeg's
HLS reader drops the first fragment of every later clip of an incident even after
``EXT-X-DISCONTINUITY``; so the incident's playlist names each fragment of a later clip
by its own URL here, which serves it with its ``tfdt`` moved to follow the clip before
(only the ``moof`` is copied and changed in memory; the ``mdat`` is read from the clip as
it is sent). The clip being recorded is not an item yet: its playlist is a 404 until it
is closed.

Every large body here goes to the client only as fast as it reads (:mod:`web.bodies`):
the ZIP and the fragments are pulled by the server, the export and the clips are files.

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
from appliance.fmp4 import Layout, LayoutCache, LayoutError, hls_playlist, shift_decode_time
from appliance.items import DCIM, Item
from appliance.library import Library
from appliance.share import travelling_files
from appliance.worker import Worker
from web.bodies import Chain, FileRange, PulledBody
from web.media import RANGE_PARAM, download_name, open_below, parse_range, send_file
from web.resources.incidents import find_incident, incident_items
from web.spec import Component, Deps, Reply, operation
from web.zipstream import ZipPlan

log = logging.getLogger(__name__)

HLS_TYPE = "application/vnd.apple.mpegurl"
#: The export folder, below DCIM.
EXPORT_DIR = "EXPORT"
#: Items one ZIP may hold.
MAX_ZIP_ITEMS = 500
#: Bytes an export may take beyond the clips it joins (its index).
EXPORT_MARGIN_BYTES = 1024 * 1024
#: Niceness of the export thread (the recorder and the requests go first).
EXPORT_NICENESS = 10
#: The largest ``moof`` a fragment may start with (a second of 60 fps video needs ~1 KB).
MAX_MOOF_BYTES = 1024 * 1024

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
_PLAYLIST = {200: Reply("An HLS VOD playlist", {"type": "string"}, HLS_TYPE)}
_FRAGMENT = {
    200: Reply("One fragment (moof + mdat), its times following the clip before"),
    206: Reply("The range asked for"),
}
_FILE = {200: Reply("The export"), 206: Reply("The range asked for"), 304: Reply("Not modified")}


class Playback:
    """Playlists (``.../playlist.m3u8``), fragments, the incident's export, ``items.zip``."""

    def __init__(self, deps: Deps) -> None:
        self.library: Library = deps.library
        self.controller = deps.controller
        self.layouts = LayoutCache()
        self.export_dir = os.path.join(self.library.root, DCIM, EXPORT_DIR)
        self._exporting = threading.Lock()
        _clear(self.export_dir)

    # ----------------------------------------------------------------- playlists

    @operation("The clip as an HLS playlist (byte ranges of /media)", _PLAYLIST)
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, item_id: int) -> None:
        item = self.library.get(item_id)
        self._playlist(resp, hls_playlist([(f"/media/{item.id}.mp4", self._layout(item))]))

    @operation("The incident's clips as one HLS playlist", _PLAYLIST)
    def on_get_incident(self, req: falcon.Request, resp: falcon.Response, incident_id: int):
        parts = self._timeline(incident_id)
        if not parts:
            raise NotFound(f"incident {incident_id} has no clips left")
        urls: dict[int, list[str]] = {}
        for n, (item, layout, shift) in enumerate(parts):
            if shift:
                base = f"/api/incidents/{incident_id}/clips/{item.id}"
                urls[n] = [f"{base}/{rank}.m4s" for rank in range(len(layout.fragments))]
        entries = [(f"/media/{item.id}.mp4", layout) for item, layout, _ in parts]
        self._playlist(resp, hls_playlist(entries, urls))

    @operation(
        "One fragment of an incident's clip, its times moved to follow the clip before",
        _FRAGMENT,
        errors=(416,),
        params=RANGE_PARAM,
    )
    def on_get_fragment(
        self, req: falcon.Request, resp: falcon.Response, incident_id: int, item_id: int, rank: int
    ) -> None:
        for part in self._timeline(incident_id):
            if part[0].seq == item_id:
                item, layout, shift = part
                break
        else:
            raise NotFound(f"item {item_id} is not a clip of incident {incident_id}")
        if rank >= len(layout.fragments):
            raise NotFound(f"clip {item.id} has {len(layout.fragments)} fragments")
        fragment = layout.fragments[rank]
        fd = open_below(self.library.root, item.path)
        try:
            body, length = _moved_fragment(fd, fragment.offset, fragment.size, shift)
        except LayoutError as exc:
            os.close(fd)
            raise NotFound(f"clip {item.id}: {exc}") from None
        except BaseException:
            os.close(fd)
            raise
        resp.content_type = "video/mp4"
        resp.accept_ranges = "bytes"
        resp.cache_control = ["private", "max-age=3600"]
        header = req.get_header("Range")
        try:
            wanted = parse_range(header, length) if header else None
        except BaseException:
            body.close()
            raise
        first, last = wanted if wanted is not None else (0, length - 1)
        if wanted is not None:
            resp.status = falcon.HTTP_206
            resp.content_range = (first, last, length)
        if req.method == "HEAD":
            body.close()
            resp.content_length = last - first + 1
            return
        resp.set_stream(body.slice(first, last + 1), last - first + 1)

    on_head_fragment = on_get_fragment

    def _playlist(self, resp: falcon.Response, text: str) -> None:
        resp.content_type = HLS_TYPE
        resp.cache_control = ["no-cache"]
        resp.text = text

    def _layout(self, item: Item) -> Layout:
        if not item.is_video:
            raise NotFound(f"item {item.id} is a photo: nothing to play")
        try:
            layout = self.layouts.get(item.path)
        except FileNotFoundError:
            raise NotFound(f"item {item.id} is gone from the card") from None
        except LayoutError as exc:
            raise NotFound(f"item {item.id} cannot be played by HLS: {exc}") from None
        if not layout.fragments:
            raise NotFound(f"item {item.id} holds no whole fragment")
        return layout

    def _timeline(self, incident_id: int) -> list[tuple[Item, Layout, int]]:
        """The incident's playable clips, each with the shift that makes its fragment times
        follow the clip before (0 for the first, or when the time units differ)."""
        incident = find_incident(self.library.incidents(), incident_id)
        out: list[tuple[Item, Layout, int]] = []
        end = None  # where the clip before ended, in its time units
        timescale = None
        for item in incident_items(self.library, incident):
            try:
                layout = self._layout(item)
            except NotFound:
                continue  # a clip without a whole fragment adds nothing to play
            first, last = layout.fragments[0], layout.fragments[-1]
            shift = 0
            if end is not None and layout.timescale == timescale:
                shift = end - first.decode
            out.append((item, layout, shift))
            end, timescale = last.decode + last.units + shift, layout.timescale
        return out

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


class _Fragment:
    """One fragment of a clip with its ``tfdt`` moved: the ``moof`` in memory (a few
    hundred bytes), the ``mdat`` read from the clip as it is sent."""

    def __init__(self, fd: int, moof: bytes, mdat_at: int, mdat_size: int) -> None:
        self.fd, self.moof, self.mdat_at, self.mdat_size = fd, moof, mdat_at, mdat_size

    def slice(self, first: int, end: int) -> PulledBody:
        """Bytes ``first`` to ``end`` (exclusive) as a pulled body (it owns the file)."""
        head = self.moof[first:end]
        skip = max(0, first - len(self.moof))
        size = max(0, end - max(first, len(self.moof)))
        data = FileRange(self.fd, self.mdat_at + skip, size)
        return PulledBody(Chain(head, data), len(head) + size)

    def close(self) -> None:
        os.close(self.fd)


def _moved_fragment(fd: int, offset: int, size: int, shift: int) -> tuple[_Fragment, int]:
    """The fragment at ``offset`` of the open clip ``fd``, its decode times moved by
    ``shift``; and its length.

    Raises:
        LayoutError: it does not start with a ``moof``, its times cannot be moved, or the
            clip is shorter than its layout says.
    """
    head = os.pread(fd, 8, offset)
    moof_size = int.from_bytes(head[:4], "big") if len(head) == 8 else 0
    if head[4:8] != b"moof" or not 8 <= moof_size <= min(size, MAX_MOOF_BYTES):
        raise LayoutError("not a fragment: no moof at its start")
    if os.fstat(fd).st_size < offset + size:
        raise LayoutError("the clip is shorter than its fragments")
    moof = shift_decode_time(os.pread(fd, moof_size, offset), shift)
    return _Fragment(fd, moof, offset + moof_size, size - moof_size), size


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
