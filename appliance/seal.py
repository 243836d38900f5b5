"""The sealer: each closed clip hashed, chained and signed, off the recorder's thread.

The recorder hands over each clip it closes, the controller each clip it recovers after a
power cut (:attr:`appliance.controller.Controller.on_clip_closed`); both only queue it.
:class:`Sealer`'s own thread, at a lower CPU priority, reads the clip once (SHA-256),
appends its signed link to ``DCIM/CHAIN`` (synced) and writes the link beside the clip
(``<clip>.chain``, which travels with it): a rollover never waits for it, and a failure is
logged, never raised into the recorder.

Links follow the clips' sequence numbers. At start, partials the scan found are recovered
on the jobs thread while the next clips close: a clip is held until every partial below
it has been recovered (chained, marked ``recovered``) or moved to LOST. Clips closed
before a power cut but not yet sealed (a cut between the close and the seal) are sealed at
the next start, marked ``late``. A card without a chain starts one with its next clip
(clips recorded before are not hashed after the fact).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.chain import (
    CHAIN_EXT,
    CHAIN_FILE,
    ChainFile,
    DeviceKey,
    file_sha256,
    make_link,
    utc_text,
)
from appliance.errors import NotFound
from appliance.items import Item, Kind
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Niceness of the sealer's thread (the recorder and the requests go first).
SEAL_NICENESS = 10
#: Longest wait of the thread between two looks at its queue.
IDLE_S = 0.2
#: Longest wait at shutdown for the clips still to be sealed.
CLOSE_WAIT_S = 3.0


class Sealer:
    """Hashes, chains and signs each closed clip on its own thread.

    Args:
        library: The card's library (scanned before :meth:`start`).
        key: The device's signing key, or a function that loads it (called on the
            sealer's thread, so that loading ``cryptography`` never delays the first
            frame); None writes unsigned links (logged).
        wall: The wall clock of ``sealed``.

    Attributes:
        hashed_bytes, hash_s: What the thread has hashed, and the CPU seconds it took
            (``tests/bench/recorder.py``'s ``segment_hash_ms_per_mb``).
    """

    def __init__(
        self,
        library: Any,
        key: DeviceKey | Callable[[], DeviceKey | None] | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._library = library
        self._key_loader = key if callable(key) and not isinstance(key, DeviceKey) else None
        self.key: DeviceKey | None = None if self._key_loader else key  # type: ignore[assignment]
        self._wall = wall
        self._todo: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending: set[int] = set()  # queued or held: not sealed yet
        self._held: list[tuple[int, bool, bool]] = []  # heap of (seq, recovered, late)
        self._idle = threading.Event()
        self.hashed_bytes = 0
        self.hash_s = 0.0
        self.sealed = 0
        self._worker = Worker(self._run, "sealer")

    @property
    def chain_path(self) -> str:
        return os.path.join(self._library.card.dcim_dir, CHAIN_FILE)

    def start(self) -> Sealer:
        """Start the thread (after the library's scan)."""
        self._worker.start()
        return self

    def clip_closed(self, item: Item, recovered: bool = False) -> None:
        """A clip closed (or recovered): queue it. Never blocks."""
        if not item.is_video:
            return
        with self._lock:
            self._pending.add(item.seq)
            self._idle.clear()
        self._todo.put((item.seq, recovered))

    def is_settled(self, item: Item) -> bool:
        """False while ``item`` waits to be sealed (the upload waits for its link)."""
        with self._lock:
            return item.seq not in self._pending

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or held; True if so."""
        return self._idle.wait(timeout_s)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Seal what is queued (at most ``wait_s``), then stop; the rest is sealed at the
        next start (``late``)."""
        self._worker.stopping.set()
        self._worker.join(wait_s)

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        if self._key_loader is not None:
            try:
                self.key = self._key_loader()
            except Exception:  # noqa: BLE001 - unsigned links rather than none
                log.exception("sealer: the device key cannot be loaded")
        if self.key is None:
            log.warning("no device key: clips are chained but not signed")
        self._library.device_key = self.key  # an incident's export signs its manifest
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SEAL_NICENESS)
        try:
            self._catch_up()
        except Exception:  # noqa: BLE001 - the start's catching up is never worth the thread
            log.exception("sealer: catching up failed")
        stopping = self._worker.stopping
        while True:
            try:
                seq, recovered = self._todo.get(timeout=IDLE_S)
                heapq.heappush(self._held, (seq, recovered, False))
            except queue.Empty:
                if stopping.is_set():
                    break
            self._release()

    def _catch_up(self) -> None:
        """Clips closed before a power cut and not yet sealed: sealed now, ``late``."""
        chain = ChainFile(self.chain_path)
        last = chain.load()
        if last is None:
            return
        after = int(last.fields.get("seq", -1))
        items = self._library.page(kinds=(Kind.LOOP, Kind.PROTECTED), limit=10_000)
        unrecovered = self._library.unrecovered()
        with self._lock:
            late = [
                i.seq
                for i in items
                if i.seq > after and i.seq not in self._pending and i.seq not in unrecovered
            ]
            self._pending.update(late)
        for seq in late:
            heapq.heappush(self._held, (seq, False, True))
        if late:
            log.info("sealer: %d clips closed before the last stop are sealed now", len(late))

    def _release(self) -> None:
        """Seal the held clips below every partial not yet recovered, in order."""
        unrecovered = self._library.unrecovered()
        floor = min(unrecovered) if unrecovered else None
        while self._held and (floor is None or self._held[0][0] < floor):
            seq, recovered, late = heapq.heappop(self._held)
            try:
                self._seal(seq, recovered, late)
            except Exception as exc:  # noqa: BLE001 - one clip is never worth the thread
                log.warning("clip %08d not sealed: %s", seq, exc)
            finally:
                with self._lock:
                    self._pending.discard(seq)
        with self._lock:
            if not self._pending:
                self._idle.set()

    def _seal(self, seq: int, recovered: bool, late: bool) -> None:
        try:
            item = self._library.get(seq)
        except NotFound:
            log.info("clip %08d is gone before it was sealed", seq)
            return
        chain = ChainFile(self.chain_path, sync=self._library.fs.sync)
        last = chain.load()  # read each time: the card may have been swapped
        if last is not None and int(last.fields.get("seq", -1)) >= seq:
            return  # sealed already
        started = time.thread_time()
        digest, size = file_sha256(item.path)
        self.hash_s += time.thread_time() - started
        self.hashed_bytes += size
        fields: dict[str, Any] = {
            "n": chain.next_n,
            "seq": seq,
            "file": item.name,
            "bytes": size,
            "sha256": digest,
            "prev": chain.prev,
            "sealed": utc_text(self._wall()),
        }
        if recovered:
            fields["recovered"] = True
        if late:
            fields["late"] = True
        link = make_link(self.key, fields)
        chain.append(link)
        self._library.place_sidecar(seq, CHAIN_EXT, link.line + b"\n")
        self.sealed += 1
        log.debug("sealed %s: link %d", item.name, fields["n"])
