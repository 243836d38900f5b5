"""An incident's export: the card's ``DCIM/EXPORT`` folder and the one export it holds.

An export is one plain MP4 of an incident with its evidence beside it (merged track,
signed manifest, public key: :func:`appliance.media.joined.export_incident`). It is never an
item (the card scan does not look in ``DCIM/EXPORT``); there is one at a time, the
previous one deleted first, and none is kept from one start to the next
(:meth:`Exports.clear`, which the controller calls once it has scanned the card). Room is
made as the recorder makes it (the oldest loop clips go) and the export is refused when
the reserve would not hold. The joining runs on the service's own thread, at a lower
priority than the recorder and the requests; the caller waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from appliance.items import Item
from appliance.library import Library
from appliance.media.joined import Evidence, export_incident

log = logging.getLogger(__name__)

#: Bytes an export may take beyond the clips it joins (its index).
EXPORT_MARGIN_BYTES = 1024 * 1024
#: Niceness of the export thread (the recorder and the requests go first).
EXPORT_NICENESS = 10


class ExportRefused(Exception):
    """An export that cannot be made now; the message says why, in the user's words."""


class ExportBusy(ExportRefused):
    """Another export is running."""


class StillRecording(ExportRefused):
    """The incident's last clip is still being recorded."""


class NoRoom(ExportRefused):
    """The card has no room for the export beside its reserve."""


class FolderRefused(ExportRefused):
    """The export folder is not a folder of the card (a symbolic link)."""


class ClipsChanged(ExportRefused):
    """A clip was deleted during the export, or cannot be read."""


@dataclass(frozen=True)
class Exported:
    """The export made: its path, its download name and what it holds."""

    path: str
    name: str
    evidence: Evidence


def export_name(incident_id: int, first: Item) -> str:
    """The name an incident's export is downloaded under."""
    return f"dashcam_{first.stamp}_incident{incident_id}.mp4"


class Exports:
    """The export of incidents into the card's export folder, one at a time.

    Building it touches nothing: :meth:`clear` deletes what an earlier run left.

    Args:
        library: The card's library (its layout, its prune and its device key).
        speed_unit: Returns the speed unit the exported subtitles use (a live setting).
        on_written: Called after an export was written (the card's free bytes changed).
    """

    def __init__(
        self,
        library: Library,
        speed_unit: Callable[[], str],
        on_written: Callable[[], None] = lambda: None,
    ) -> None:
        self.library = library
        self.folder = library.card.export_dir
        self._speed_unit = speed_unit
        self._on_written = on_written
        self._one = threading.Lock()
        self._joiner: ThreadPoolExecutor | None = None

    def path(self, incident_id: int) -> str:
        """Where the export of incident ``incident_id`` is (or would be)."""
        return os.path.join(self.folder, f"incident-{incident_id:08d}.mp4")

    def clear(self) -> None:
        """Delete the files of the export folder (never following a symlink)."""
        if os.path.islink(self.folder):
            return
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                try:
                    os.unlink(entry.path)
                except OSError as exc:
                    log.warning("could not delete the old export %s: %s", entry.name, exc)

    def export(self, incident_id: int, items: list[Item], *, complete: bool) -> Exported:
        """Export the incident made of ``items`` (its clips, in order).

        Args:
            incident_id: The incident's number.
            items: Its video clips, in order (at least one).
            complete: False while its last clip is still being recorded.

        Raises:
            ExportRefused: one of its kinds, saying why (nothing is left in the folder).
            OSError: the card failed.
        """
        if not complete:
            raise StillRecording(
                f"incident {incident_id}: its next clip is still recording; "
                "export it once that clip has closed"
            )
        if not self._one.acquire(blocking=False):
            raise ExportBusy("an export is running: try again when it ends")
        try:
            return self._export(incident_id, items)
        finally:
            self._one.release()

    def _export(self, incident_id: int, items: list[Item]) -> Exported:
        self.clear()
        if os.path.islink(self.folder):
            raise FolderRefused("DCIM/EXPORT is a symbolic link")
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.folder)
        wanted = sum(item.size for item in items) + EXPORT_MARGIN_BYTES
        if not self.library.prune(writing=items[-1].seq, headroom_bytes=wanted).ok:
            raise NoRoom(
                f"the card has no room for a {wanted / 1e6:.0f} MB export "
                "beside its reserve: delete or unprotect clips first"
            )
        path = self.path(incident_id)
        name = export_name(incident_id, items[0])
        joining = self._thread().submit(
            export_incident,
            items,
            path,
            incident_id=incident_id,
            stem=os.path.splitext(name)[0],
            key=self.library.device_key,
            unit=self._speed_unit(),
        )
        try:
            evidence = joining.result()
        except FileNotFoundError as exc:
            raise ClipsChanged("a clip was deleted during the export") from exc
        except ValueError as exc:  # ExportError, or a clip FFmpeg cannot read
            raise ClipsChanged(f"cannot export: {exc}") from exc
        self._on_written()
        return Exported(path, name, evidence)

    def _thread(self) -> ThreadPoolExecutor:
        """The one low-priority thread exports are joined on (made at the first export)."""
        if self._joiner is None:
            self._joiner = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="export", initializer=_lower_priority
            )
        return self._joiner

    def close(self) -> None:
        """End the export thread (an export running is finished first)."""
        if self._joiner is not None:
            self._joiner.shutdown(wait=True)


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), EXPORT_NICENESS)
