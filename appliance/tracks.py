"""A GPS track per clip, and the status nudged when the speed shown changes.

:class:`TrackRecorder` listens to the position source (every fix) and to the controller
(every status snapshot, the hook the LED and the dashboard use too); at each it asks the
recorder which segment is open. While one is, its fixes go into a
:class:`~appliance.track.Track`, timed from the segment's start on the recorder's clock.
Once the recorder reports the segment closed (its ``last_closed_seq`` reached it: the
clip is indexed), the track goes to a worker
thread that writes ``DCIM/TRACK/<seq>.gpx`` and ``<seq>.srt`` with the card's atomic,
synced write: a rollover never waits for it, and a failure is logged, never raised into
the recorder. A clip without a single fix gets no files.

The files belong to the clip: :meth:`appliance.card.Card.delete_files` deletes them with
it (pruning, the dashboard, WebDAV), and, like its thumbnail, they stay in TRACK when the
clip moves to PROTECTED and back. A clip deleted before its track is written loses it.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Callable
from typing import Any

from appliance.cardfiles import unlink, write_atomic
from appliance.errors import NotFound
from appliance.ports import Clock
from appliance.track import Fix, Track, speed_text
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Longest wait at shutdown for the tracks still to be written.
CLOSE_WAIT_S = 2.0
#: Closed tracks waiting to be written at most (past it, on a card that hangs, a new one
#: is dropped and logged).
MAX_QUEUED = 8
TRACK_RE = re.compile(r"^(\d{8,})\.(gpx|srt)$")


class TrackRecorder:
    """Collects each open segment's fixes and writes its track once the clip is closed.

    Args:
        library: The card's library (the clip's files, and whether it still exists).
        recorder: The recorder: its ``status`` (open segment, start time) and
            ``last_closed_seq``.
        clock: The recorder's clock (its monotonic time times the fixes).
        unit: The SRT's speed unit ("km/h" or "mph").
    """

    def __init__(self, library: Any, recorder: Any, clock: Clock, unit: str = "km/h") -> None:
        self._library = library
        self._recorder = recorder
        self._clock = clock
        self.unit = unit
        self._lock = threading.Lock()
        self._seq: int | None = None  # the open segment being followed
        self._started_mono = 0.0
        self._track: Track | None = None
        self._closing: list[tuple[int, Track]] = []  # closed, not yet indexed
        self._todo: queue.Queue[tuple[int, Track]] = queue.Queue(MAX_QUEUED)
        self._worker = Worker(self._run, "tracks")
        self.written: list[int] = []  # clips whose track was written (newest last)

    def start(self) -> TrackRecorder:
        """Start the writer thread."""
        self._worker.start()
        return self

    def on_fix(self, fix: Fix) -> None:
        """A position report (the source's thread): kept for the open segment, if any."""
        with self._lock:
            ready = self._follow()
            if self._track is not None:
                self._track.add(fix, self._clock.monotonic() - self._started_mono)
        self._queue(ready)

    def on_status(self, _status: object = None) -> None:
        """A status snapshot (the controller's thread): a segment may have closed."""
        with self._lock:
            ready = self._follow()
        self._queue(ready)

    def _follow(self) -> list[tuple[int, Track]]:
        """Follow the recorder's segment (lock held); returns the closed tracks whose clip
        is indexed now.

        The recorder itself is asked (not the snapshot, which may come later), so a fix
        goes to the segment open when it arrived; between two segments (the next opens at
        the same keyframe) the closing one keeps it.
        """
        rec = self._recorder.status
        started = rec.segment_started_mono
        seq = rec.seq if rec.recording and started is not None else None
        if seq is None and self._recorder.wants_recording:
            seq = self._seq
        if seq != self._seq:
            if self._seq is not None and self._track is not None:
                self._closing.append((self._seq, self._track))
            self._seq, self._track = seq, (Track() if seq is not None else None)
            self._started_mono = started or 0.0
        closed = self._recorder.last_closed_seq
        ready = [c for c in self._closing if closed is not None and c[0] <= closed]
        self._closing = [c for c in self._closing if c not in ready][-MAX_QUEUED:]
        return ready

    def _queue(self, ready: list[tuple[int, Track]]) -> None:
        for seq, track in ready:
            if not track.points:
                continue  # no fix at all: no files
            try:
                self._todo.put_nowait((seq, track))
            except queue.Full:
                log.warning("track of %08d dropped: the card is not keeping up", seq)

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Write the tracks of the clips closed so far (at most ``wait_s``), then stop."""
        self.on_status()  # the segment closed by the shutdown
        self._worker.stopping.set()
        self._worker.join(wait_s)

    def _run(self) -> None:
        self._tidy()
        stopping = self._worker.stopping
        while True:
            try:
                seq, track = self._todo.get(timeout=0.2)
            except queue.Empty:
                if stopping.is_set():
                    return
                continue
            try:
                self._write(seq, track)
            except Exception:  # noqa: BLE001 - a track is never worth the thread
                log.exception("track of %08d failed", seq)

    def _tidy(self) -> None:
        """Delete what TRACK holds for no clip: a write a power cut cut short (``.tmp``),
        the track of a clip deleted while the appliance was off (a card read on a PC)."""
        folder = self._library.card.track_dir
        try:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            log.warning("TRACK cannot be read: %s", exc)
            return
        for name in names:
            m = TRACK_RE.match(name)
            if m is None:
                if name.endswith(".tmp"):
                    unlink(os.path.join(folder, name))
                continue
            try:
                self._library.get(int(m.group(1)))
            except NotFound:
                log.info("TRACK: %s belongs to no clip; deleted", name)
                unlink(os.path.join(folder, name))

    def _write(self, seq: int, track: Track) -> None:
        paths = self._library.card.track_paths(seq)
        texts = (track.to_gpx(f"{seq:08d}"), track.to_srt(self.unit))
        try:
            for path, text in zip(paths, texts, strict=True):
                write_atomic(self._library.fs, path, text.encode("utf-8"))
        except OSError as exc:
            log.warning("track of %08d not written: %s", seq, exc)
            for path in paths:
                unlink(path)
            return
        try:
            self._library.get(seq)
        except NotFound:  # deleted while the track was being written
            for path in paths:
                unlink(path)
            return
        self.written.append(seq)
        log.info("track of %08d: %d points", seq, len(track.points))


class SpeedWatch:
    """Asks for a fresh status snapshot when the GPS line of the dashboard changes (fix
    state or speed shown), at most once per ``min_interval_s``.

    Args:
        refresh: Publishes a fresh snapshot (``Controller.refresh``).
        clock: Monotonic time.
        unit: The speed unit shown.
    """

    def __init__(
        self,
        refresh: Callable[[], None],
        clock: Clock,
        unit: str = "km/h",
        min_interval_s: float = 1.0,
    ) -> None:
        self._refresh = refresh
        self._clock = clock
        self.unit = unit
        self.min_interval_s = min_interval_s
        self._shown: tuple[int, str] | None = None
        self._at = -min_interval_s

    def on_fix(self, fix: Fix) -> None:
        """A position report: refresh if what the dashboard shows of it changed."""
        shown = (fix.mode if fix.has_fix else 0, speed_text(fix, self.unit))
        now = self._clock.monotonic()
        if shown != self._shown and now - self._at >= self.min_interval_s:
            self._shown, self._at = shown, now
            self._refresh()
