"""The card itself: its folders, whether it is still there, and its sequence number.

:class:`Card` knows where the layout of :mod:`appliance.items` lives under the storage
root, makes it (refusing a layout folder that is a symlink), tells whether the card is
still mounted and the same one, proves it can be written, and hands out sequence numbers
(DCIM/SEQUENCE is written before a number is used, so that numbers never go back).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Iterable

from appliance.card.files import (
    fsync_dir,
    read_small_file,
    storage_error,
    unlink,
    write_atomic,
    write_file,
)
from appliance.items import (
    DCIM,
    EXPORT_DIR,
    LOOP_DIR,
    LOST_DIR,
    PHOTO_DIR,
    PROTECTED_DIR,
    SEQUENCE_FILE,
    SIDECAR_EXTS,
    THUMB_DIR,
    TRACK_DIR,
    Item,
)
from appliance.ports import DiskUsageFn, FileSystem

log = logging.getLogger(__name__)

#: The extension of a track's journal in TRACK (see :mod:`appliance.track_recorder`).
TRACK_JOURNAL_EXT = ".part"
#: Name of the small file :meth:`Card.check_writable` writes, syncs and deletes.
PROBE_NAME = ".probe"


class Card:
    """The storage root and the layout under it.

    Args:
        root: The storage root (the card's mount point); ``DCIM`` lives under it.
        fs: The file-system calls a failing card breaks (sync, rename, mkdir).
        disk_usage: Returns the total and free bytes of the file system at a path.
    """

    def __init__(self, root: str, fs: FileSystem, disk_usage: DiskUsageFn) -> None:
        self.root = root
        self.fs = fs
        self._disk_usage = disk_usage
        dcim = os.path.join(root, DCIM)
        self.dcim_dir = dcim
        self.loop_dir = os.path.join(dcim, LOOP_DIR)
        self.protected_dir = os.path.join(dcim, PROTECTED_DIR)
        self.photo_dir = os.path.join(dcim, PHOTO_DIR)
        self.thumb_dir = os.path.join(dcim, THUMB_DIR)
        self.track_dir = os.path.join(dcim, TRACK_DIR)
        self.lost_dir = os.path.join(dcim, LOST_DIR)
        #: Made by the first export, not by :meth:`make_layout` (:mod:`appliance.export_service`).
        self.export_dir = os.path.join(dcim, EXPORT_DIR)
        self.sequence_path = os.path.join(dcim, SEQUENCE_FILE)
        self._made = False
        self._root_mounted = False  # the root was a mount point when first made
        #: (st_dev, st_ino) of the DCIM folder the index was read from.
        self.identity: tuple[int, int] | None = None
        self._seq_lock = threading.Lock()  # the next number and the SEQUENCE file
        self._next_seq = 0

    def make_layout(self) -> tuple[int, int]:
        """Create the layout; returns which card it is on (set :attr:`identity` to it
        once the card has been read).

        The storage root is created the first time only: later (a card put back) it must
        be there, and mounted if it was a mount point the first time.

        Raises:
            OSError: the card is missing, unmounted, cannot be written, or a layout
                folder is a symlink.
        """
        if self._made:
            self.check_mounted()
        else:
            os.makedirs(self.root, exist_ok=True)
            self._root_mounted = os.path.ismount(self.root)
        for path in (
            self.dcim_dir,
            self.loop_dir,
            self.protected_dir,
            self.photo_dir,
            self.thumb_dir,
            self.track_dir,
            self.lost_dir,
        ):
            if os.path.islink(path):
                raise OSError(errno.ELOOP, "a layout folder is a symlink; refusing it", path)
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(path)
        self._made = True
        return self._read_identity()

    def _read_identity(self) -> tuple[int, int]:
        st = os.stat(self.dcim_dir, follow_symlinks=False)
        return st.st_dev, st.st_ino

    def check_mounted(self) -> None:
        """Raises ``OSError`` if the storage root is gone or no longer mounted."""
        if not os.path.isdir(self.root):
            raise FileNotFoundError(errno.ENOENT, "the storage folder is gone", self.root)
        if self._root_mounted and not os.path.ismount(self.root):
            raise OSError(errno.ENODEV, "the card is not mounted", self.root)

    def check_same(self) -> None:
        """Quick check: mounted, the same DCIM folder, and the file system answers.

        Raises:
            OSError: the card is missing, unmounted or swapped.
        """
        self.check_mounted()
        if self.identity != self._read_identity():
            raise OSError(errno.ENODEV, "the card's folder changed", self.dcim_dir)
        self._disk_usage(self.root)

    def is_same(self) -> bool:
        """True if DCIM is still the folder of :attr:`identity`."""
        try:
            return self.identity == self._read_identity()
        except FileNotFoundError:
            return False

    def check_writable(self) -> None:
        """Write, sync, rename and delete a small file; then ask for the disk usage.

        Raises:
            OSError: the card is read-only or failing.
        """
        probe = os.path.join(self.dcim_dir, PROBE_NAME)
        try:
            write_atomic(self.fs, probe, b"dashcam\n")
        finally:
            unlink(probe)
        self._disk_usage(self.root)

    def mkdir_day(self, folder: str) -> None:
        """Create a day folder; its parent (LOOP, PHOTO) must exist: never the layout.

        A symlink in its place is removed (never followed) and a real folder made.
        """
        if os.path.islink(folder):
            log.warning("replacing a symlink where a day folder goes: %s", folder)
            os.unlink(folder)
        if not os.path.isdir(folder):
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(folder)

    def write_photo(
        self, partial: str, final: str, jpeg: bytes, thumb: str, thumb_jpeg: bytes
    ) -> None:
        """Write a photo (synced) under ``partial``, rename it to ``final``, then write its
        thumbnail; a failure leaves none of the three.

        Raises:
            StorageFull: the card has no room.
            OSError: the card failed.
        """
        try:
            write_file(self.fs, partial, jpeg)
            self.fs.rename(partial, final)
            write_atomic(self.fs, thumb, thumb_jpeg)
        except OSError as exc:
            for path in (partial, final, thumb):
                unlink(path)
            raise storage_error(exc) from exc

    def delete_files(self, items: Iterable[Item]) -> set[str]:
        """Delete the files, thumbnails, sidecars and GPS tracks of ``items`` now.

        Returns:
            Their day folders, which :meth:`remove_folders` removes once empty.
        """
        folders: set[str] = set()
        for item in items:
            unlink(item.path)
            unlink(item.thumb or self.thumb_path(item.seq))
            for ext in SIDECAR_EXTS if item.is_video else ():
                unlink(item.sidecar(ext))
            for path in (*self.track_paths(item.seq), self.track_journal_path(item.seq)):
                unlink(path)
            folder = os.path.dirname(item.path)
            if os.path.dirname(folder) in (self.loop_dir, self.photo_dir):
                folders.add(folder)
        return folders

    @staticmethod
    def remove_folders(folders: Iterable[str]) -> None:
        """Remove the folders that are empty."""
        for folder in folders:
            with contextlib.suppress(OSError):  # not empty
                os.rmdir(folder)

    def thumb_path(self, seq: int) -> str:
        """Where the thumbnail of item ``seq`` goes."""
        return os.path.join(self.thumb_dir, f"{seq:08d}.jpg")

    def track_paths(self, seq: int) -> tuple[str, str]:
        """Where the GPS track of clip ``seq`` went before it lay beside the clip: its GPX
        and its SRT in TRACK (moved beside their clip at start)."""
        stem = os.path.join(self.track_dir, f"{seq:08d}")
        return stem + ".gpx", stem + ".srt"

    def track_journal_path(self, seq: int) -> str:
        """Where the fixes of clip ``seq`` are journaled while it records (a power cut
        leaves them for the next start to turn into its track)."""
        return os.path.join(self.track_dir, f"{seq:08d}{TRACK_JOURNAL_EXT}")

    def resume_sequence(self, highest_seen: int) -> int:
        """Set the next sequence number after a scan and persist it; returns it.

        Numbers start at 1 and never go back: the next one is above what SEQUENCE says,
        above ``highest_seen`` on the card and above any number used before (even on
        another card).
        """
        persisted = self._read_sequence()
        with self._seq_lock:
            self._next_seq = max(persisted, highest_seen + 1, self._next_seq, 1)
            self._write_sequence(self._next_seq)
            return self._next_seq

    def allocate(self) -> int:
        """Take the next sequence number; it is persisted before it is returned.

        Raises:
            StorageFull: the card has no room for SEQUENCE.
            OSError: the card failed.
        """
        with self._seq_lock:
            seq = self._next_seq
            try:
                self._write_sequence(seq + 1)
            except OSError as exc:
                raise storage_error(exc) from exc
            self._next_seq = seq + 1
            return seq

    def _read_sequence(self) -> int:
        try:
            return max(0, int(read_small_file(self.sequence_path).strip()))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s); using the card's highest number", SEQUENCE_FILE, exc)
            return 0

    def _write_sequence(self, next_seq: int) -> None:
        write_atomic(self.fs, self.sequence_path, f"{next_seq}\n".encode("ascii"))
        fsync_dir(self.dcim_dir)
