"""Uploading the recordings at home: what goes, in which order, and when.

The policy is core logic: only items in the index (closed files: the open segment is a
``.partial`` and never in it), the kinds asked for, protected clips first, then photos,
then loop clips, oldest first within each. Each upload done is written to the card
(:class:`UploadLog`, ``DCIM/UPLOADED``), so a restart does not send a file twice, the
gallery can show it, and pruning can prefer loop clips already safe at home.

The transfer itself is a port (:class:`Transfer`): ``hw/rclone.py`` runs rclone at low
CPU and I/O priority. :class:`Uploader` runs on its own thread: it never holds a lock the
recorder or the buttons need, and when the network goes away it cancels the transfer and
waits; a file cut off is sent again from the start next time, under the same name.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from appliance.library import Item, Kind, Library
from appliance.share import share_path, travelling_files
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: The order kinds are sent in.
KIND_ORDER = (Kind.PROTECTED, Kind.PHOTO, Kind.LOOP)
#: What is uploaded unless told otherwise.
DEFAULT_KINDS = frozenset({Kind.PROTECTED, Kind.PHOTO})
#: How often the uploader looks for new files and at the network when nothing wakes it.
CHECK_INTERVAL_S = 30.0
#: Most items looked at per pass (the rest wait for the next pass).
MAX_PER_PASS = 10_000
#: The largest upload log read (a million lines of sequence numbers).
MAX_LOG_BYTES = 16 * 1024 * 1024


class TransferError(Exception):
    """A transfer failed (the remote refused it, the network broke)."""


class TransferCancelled(TransferError):
    """A transfer was cancelled (the network went away, the appliance stops)."""


class Transfer(ABC):
    """Sends one file to the remote."""

    @abstractmethod
    def send(self, local_path: str, remote_path: str, progress: Callable[[int], None]) -> None:
        """Copy ``local_path`` to ``remote_path`` (relative to the remote's root).

        Args:
            progress: Called with the bytes sent so far, now and then.

        Raises:
            TransferCancelled: :meth:`cancel` was called.
            TransferError: Anything else went wrong; the file counts as not sent.
        """

    @abstractmethod
    def cancel(self) -> None:
        """Stop the transfer under way, if any, at once (from another thread)."""


def upload_order(items: Iterable[Item], done: set[int], kinds: Iterable[Kind]) -> list[Item]:
    """The items still to send: kinds in :data:`KIND_ORDER`, oldest first within a kind."""
    wanted = frozenset(kinds)
    rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
    todo = [item for item in items if item.kind in wanted and item.seq not in done]
    return sorted(todo, key=lambda item: (rank[item.kind], item.seq))


class UploadLog:
    """The sequence numbers already uploaded, kept on the card (one per line, synced).

    A line that is not a number, or a last line without its newline (a write torn by a
    power cut: it may be a number cut short), is skipped; the next write ends it with a
    "#" first. A file skipped is sent again, under the same name.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()  # the set only
        self._write_lock = threading.Lock()  # the file
        self._done: set[int] = set()
        self._torn = False  # the file ends without a newline
        with contextlib.suppress(FileNotFoundError):
            data = self._read()
            self._torn = not data.endswith(b"\n") and bool(data)
            lines = data.split(b"\n")
            for line in lines[:-1]:  # the last is empty, or torn
                text = line.strip()
                if text.isascii() and text.isdigit() and len(text) <= 12:
                    self._done.add(int(text))

    def _read(self) -> bytes:
        """The file's bytes: a regular file (no link, no device), at most MAX_LOG_BYTES.

        Raises:
            OSError: It cannot be read, or is not a regular file of a sane size.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # no FIFO wait
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_LOG_BYTES:
                raise OSError(f"{self.path}: not a regular file of at most {MAX_LOG_BYTES} bytes")
            with os.fdopen(os.dup(fd), "rb") as fh:
                return fh.read(MAX_LOG_BYTES + 1)
        finally:
            os.close(fd)

    def __contains__(self, seq: int) -> bool:
        with self._lock:
            return seq in self._done

    def done(self) -> set[int]:
        """A copy of the sequence numbers uploaded."""
        with self._lock:
            return set(self._done)

    def add(self, seq: int) -> None:
        """Record ``seq`` as uploaded (appended and synced before returning).

        The set's lock is not held while the card syncs: a lookup (the gallery, the
        pruner under the library's lock) never waits for the card.
        """
        with self._write_lock:
            if seq in self:
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            try:
                # A torn line gets "#" and its end: never read as a number again.
                os.write(fd, f"{'#' + chr(10) if self._torn else ''}{seq}\n".encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._torn = False
            with self._lock:
                self._done.add(seq)


@dataclass(frozen=True, slots=True)
class UploadStatus:
    """What the dashboard shows of the upload.

    Attributes:
        state: "off", "waiting" (no network it may use), "idle", "uploading" or "error".
        current: The share path being sent, or None.
        sent_bytes: Bytes of the current file sent so far.
        total_bytes: Size of the current file.
        pending: Items still to send (at the last look).
        uploaded: Items sent in all.
        last_error: The last failure's message, or None once a later pass sent everything.
        last_success_wall: When the last file arrived (epoch seconds), or None.
    """

    state: str = "idle"
    current: str | None = None
    sent_bytes: int = 0
    total_bytes: int = 0
    pending: int = 0
    uploaded: int = 0
    last_error: str | None = None
    last_success_wall: float | None = None


class Uploader:
    """Sends what :func:`upload_order` says, whenever the network allows.

    Args:
        library: The card's library (read only: the index, never the card's folders).
        log_: Where uploads are recorded.
        transfer: Sends one file.
        network_ok: True while a network the upload may use is up (checked before and
            between files, and every few seconds during one).
        kinds: The kinds to send.
        prefix: Put before every remote path (the camera's own folder, e.g. its name).
        interval_s: How often to look again when nothing wakes it.
        wall: The wall clock (epoch seconds) of ``last_success_wall``.
        ready: False for an item not to send yet (a clip not yet sealed: its link would
            not go with it); default: every item is ready.
    """

    def __init__(
        self,
        library: Library,
        log_: UploadLog,
        transfer: Transfer,
        network_ok: Callable[[], bool],
        *,
        kinds: Iterable[Kind] = DEFAULT_KINDS,
        prefix: str = "",
        interval_s: float = CHECK_INTERVAL_S,
        wall: Callable[[], float] = time.time,
        ready: Callable[[Item], bool] | None = None,
    ) -> None:
        self.library = library
        self.ready = ready
        self.log = log_
        self.transfer = transfer
        self.network_ok = network_ok
        self.kinds = frozenset(kinds)
        self.prefix = prefix.strip("/")
        self.interval_s = interval_s
        self._wall = wall
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._status = UploadStatus(uploaded=len(log_.done()))
        self._listeners: list[Callable[[UploadStatus], None]] = []
        self._worker = Worker(self._run, "upload")

    @property
    def status(self) -> UploadStatus:
        with self._lock:
            return self._status

    def subscribe(self, listener: Callable[[UploadStatus], None]) -> None:
        """Call ``listener(status)`` on every change (on the upload thread)."""
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> Uploader:
        self._worker.start()
        return self

    def upload_now(self) -> None:
        """Look for files to send at once (a new closed file, the dashboard's button)."""
        self._wake.set()

    def close(self) -> None:
        """Stop: the transfer under way is cancelled; its file stays to send."""
        self._worker.stopping.set()
        self._wake.set()
        self.transfer.cancel()
        self._worker.stop()

    def remote_path(self, item: Item) -> str:
        """Where ``item`` goes on the remote."""
        path = share_path(item)
        return f"{self.prefix}/{path}" if self.prefix else path

    def _set(self, **changes) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)
            status, listeners = self._status, list(self._listeners)
        for listener in listeners:
            try:
                listener(status)
            except Exception:  # noqa: BLE001 - a listener never stops the upload
                log.exception("upload: a status listener failed")

    def _run(self) -> None:
        stopping = self._worker.stopping
        while not stopping.is_set():
            try:
                self._pass()
            except Exception as exc:  # noqa: BLE001 - the thread lives on; said on the dashboard
                log.exception("upload: a pass failed")
                self._set(state="error", current=None, last_error=str(exc))
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def _pass(self) -> None:
        stopping = self._worker.stopping
        items = self.library.page(kinds=self.kinds, limit=MAX_PER_PASS)
        todo = upload_order(items, self.log.done(), self.kinds)
        if self.ready is not None:
            todo = [item for item in todo if self.ready(item)]
        self._set(pending=len(todo))
        failed = 0
        for n, item in enumerate(todo):
            if stopping.is_set():
                return
            if not self.network_ok():
                self._set(state="waiting", current=None, pending=len(todo) - n)
                return
            if self._send(item, pending=len(todo) - n) is False:
                failed += 1
        # One file refused does not hold back the others; the pass ends showing the error.
        # A pass that sent everything clears the last error: "Up to date" is the news.
        self._set(
            state="error" if failed else "idle",
            current=None,
            sent_bytes=0,
            total_bytes=0,
            pending=failed,
            last_error=self.status.last_error if failed else None,
        )

    def _send(self, item: Item, pending: int) -> bool | None:
        """Send one item, then its sidecars (:func:`appliance.share.travelling_files`):
        True if all were sent, False if one failed, None if cancelled."""
        remote = self.remote_path(item)
        self._set(state="uploading", current=remote, sent_bytes=0, total_bytes=item.size)
        files = []
        for share, path in travelling_files(item):
            try:
                files.append((share, path, os.path.getsize(path)))
            except FileNotFoundError:
                if path == item.path:
                    raise
        total = sum(size for _, _, size in files)
        if total != item.size:
            self._set(total_bytes=total)
        watch = threading.Event()
        watcher = Worker(self._watch_network, "upload-net", args=(watch,)).start()
        done_bytes = 0
        try:
            for share, path, size in files:
                target = f"{self.prefix}/{share}" if self.prefix else share
                base = done_bytes
                self.transfer.send(
                    path, target, lambda sent, b=base: self._set(sent_bytes=b + sent)
                )
                done_bytes += size
        except TransferCancelled:
            self._set(state="waiting", current=None, pending=pending)
            return None
        except (TransferError, OSError) as exc:
            log.warning("upload: %s: %s", remote, exc)
            self._set(state="error", current=None, last_error=f"{remote}: {exc}")
            return False
        finally:
            watch.set()
            watcher.join()
        try:
            self.log.add(item.seq)
        except OSError as exc:  # the card: it will be sent again, under the same name
            log.warning("upload: cannot record %s as sent: %s", remote, exc)
        self._set(
            uploaded=self.status.uploaded + 1,
            pending=pending - 1,
            sent_bytes=total,
            last_success_wall=self._wall(),
        )
        return True

    def _watch_network(self, done: threading.Event) -> None:
        """Cancel the transfer under way when the network goes away."""
        while not done.wait(1.0):
            if self._worker.stopping.is_set() or not self.network_ok():
                self.transfer.cancel()
                return
