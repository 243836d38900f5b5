"""A GPS track per clip, and the status nudged when the speed shown changes.

:class:`TrackRecorder` listens to the position source (every fix) and to the controller
(every status snapshot, the hook the LED and the dashboard use too); at each it asks the
recorder which segment is open. While one is, its fixes go into a
:class:`~appliance.gps_track.Track`, timed from the segment's start on the recorder's clock.
Once the recorder reports the segment closed (its ``last_closed_seq`` reached it: the
clip is indexed), the track goes to a worker
thread that writes the clip's GPX and SRT beside it with the card's atomic, synced
write: a rollover never waits for it, and a failure is logged, never raised into
the recorder. A clip without a single fix gets no files.

A power cut loses at most the last second of the open clip's track, as with its video:
the same worker appends each report to the clip's journal, ``DCIM/TRACK/<seq>.part`` (one
line per report, see :func:`journal_line`), and syncs it at most once per
:data:`JOURNAL_SYNC_S` (batched, through the card's file-system port). The journal is
deleted once the track is written. At the next start the worker, before anything else,
turns each journal left over into its clip's track, once the card scan has recovered the
clip (while the clip's ``.partial`` is still on the card, it waits); a journal of no clip
is deleted, and a last line a power cut tore is ignored.

The files lie beside the clip, under its base name (``<clip>.gpx``, ``<clip>.srt``: VLC
and mpv find the subtitles of a clip opened from the card), written through
:meth:`appliance.library.Library.place_sidecar`; they move with the clip to PROTECTED and
back, and :meth:`appliance.card.volume.Card.delete_files` deletes them with it. A track an older
version left in TRACK is moved beside its clip at start. A clip deleted before its track
is written loses it.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import queue
import re
import stat
import threading
from collections.abc import Callable
from typing import Any

from appliance.card.files import fsync_dir, unlink
from appliance.card.volume import TRACK_JOURNAL_EXT
from appliance.errors import NotFound
from appliance.exif import utc_offset_text
from appliance.gps_track import MAX_POINTS, Fix, Track, speed_text
from appliance.items import PARTIAL_SUFFIX, VIDEO_EXT, stamp_wall_s
from appliance.ports import Clock
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: Longest wait at shutdown for the tracks still to be written.
CLOSE_WAIT_S = 2.0
#: Reports and closed tracks waiting for the worker at most (past it, on a card that
#: hangs, a report is left out of the journal, or a closed track is dropped: its journal
#: stays, and the next start writes it).
MAX_QUEUED = 1024
#: A journal is synced at most once per this many seconds (what a power cut may lose).
JOURNAL_SYNC_S = 1.0
#: Longest wait of the worker between two looks at its queue.
IDLE_S = 0.2
TRACK_RE = re.compile(rf"^(\d{{8,}})\.(gpx|srt|{TRACK_JOURNAL_EXT[1:]})$")
#: The fields of a :class:`Fix` a journal line holds after its time and mode, in order.
JOURNAL_FIELDS = ("time_s", "lat_deg", "lon_deg", "alt_m", "speed_mps", "track_deg")
#: A journal is read up to this size (a line is under 200 bytes).
JOURNAL_MAX_BYTES = MAX_POINTS * 256


def journal_line(at_s: float, fix: Fix) -> bytes:
    """One report as a journal line: seconds into the clip, mode, then
    :data:`JOURNAL_FIELDS` (empty for None), comma-separated, ``\n``-terminated."""
    fields = ("" if v is None else repr(float(v)) for v in dataclasses.astuple(fix)[1:])
    return f"{at_s:.3f},{int(fix.mode)},{','.join(fields)}\n".encode("ascii")


def parse_journal_line(line: bytes) -> tuple[float, Fix]:
    """The ``(seconds into the clip, fix)`` of a :func:`journal_line`.

    Raises:
        ValueError: it is not such a line.
    """
    parts = line.decode("ascii").split(",")
    if len(parts) != 2 + len(JOURNAL_FIELDS):
        raise ValueError(f"{len(parts)} fields, not {2 + len(JOURNAL_FIELDS)}")
    at_s = float(parts[0])
    if not math.isfinite(at_s) or at_s < 0:
        raise ValueError(f"bad time in the clip: {parts[0]}")
    values = {k: float(v) if v else None for k, v in zip(JOURNAL_FIELDS, parts[2:], strict=True)}
    return at_s, Fix(int(parts[1]), **values)


def read_journal(path: str) -> tuple[Track, int]:
    """The track a journal holds, and how many of its lines could not be read.

    What follows the last ``\n`` (a line a power cut tore) is ignored, and so is what
    lies past :data:`JOURNAL_MAX_BYTES`.

    Raises:
        OSError: it cannot be read, or it is not a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path}")
        lines = f.read(JOURNAL_MAX_BYTES).split(b"\n")[:-1]
    track, bad = Track(), 0
    for line in lines:
        try:
            at_s, fix = parse_journal_line(line)
        except ValueError:
            bad += 1
            continue
        track.add(fix, at_s)
    return track, bad


@dataclasses.dataclass
class _Journal:
    """An open journal (the worker's): its file, and whether it holds what is not synced."""

    fd: int
    dirty: bool = False
    new: bool = True  # its folder entry not yet synced


class TrackRecorder:
    """Collects each open segment's fixes, journals them on the card, and writes the
    track once the clip is closed.

    Args:
        library: The card's library (the clip's files, and whether it still exists).
        recorder: The recorder: its ``status`` (open segment, start time) and
            ``last_closed_seq``.
        clock: The recorder's clock (its monotonic time times the fixes and the syncs).
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
        # ("fix", seq, at_s, fix) and ("track", seq, track), put in order under _lock.
        self._todo: queue.Queue[tuple[Any, ...]] = queue.Queue(MAX_QUEUED)
        self._full = False  # the queue was full: logged once
        self._worker = Worker(self._run, "tracks")
        # The worker's own:
        self._journals: dict[int, _Journal] = {}
        self._broken: set[int] = set()  # clips whose journal failed: not written further
        self._journal_failing = False  # logged once until a journal is synced again
        self._synced_mono = -JOURNAL_SYNC_S
        self._waiting: dict[int, str] = {}  # left-over journal -> its clip's partial

    def start(self) -> TrackRecorder:
        """Start the writer thread."""
        self._worker.start()
        return self

    def on_fix(self, fix: Fix) -> None:
        """A position report (the source's thread): kept for the open segment, if any, and
        queued for its journal."""
        with self._lock:
            self._follow()
            track = self._track
            if track is not None and len(track.fixes) < track.max_points:
                at_s = self._clock.monotonic() - self._started_mono
                track.add(fix, at_s)
                self._put(("fix", self._seq, at_s, fix))

    def on_status(self, _status: object = None) -> None:
        """A status snapshot (the controller's thread): a segment may have closed."""
        with self._lock:
            self._follow()

    def _follow(self) -> None:
        """Follow the recorder's segment (lock held); queues the closed tracks whose clip
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
        for done, track in ready:
            if not self._put(("track", done, track)):
                log.warning("track of %08d left to its journal (written at the next start)", done)

    def _put(self, item: tuple[Any, ...]) -> bool:
        """Queue for the worker (lock held, so that a clip's reports come before its
        track); never blocks. Returns False if the queue is full."""
        try:
            self._todo.put_nowait(item)
        except queue.Full:
            if not self._full:
                log.warning("the tracks' queue is full: the card is not keeping up")
            self._full = True
            return False
        self._full = False
        return True

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
                item: tuple[Any, ...] | None = self._todo.get(timeout=self._idle_s())
            except queue.Empty:
                if stopping.is_set():
                    break
                item = None
            if item is not None:
                self._do(item)
            self._do(("sync",))  # if one is due: the lines of a second synced together
        self._sync_journals(force=True)
        for journal in self._journals.values():
            os.close(journal.fd)  # left for the next start: its segment did not close
        self._journals.clear()

    def _do(self, item: tuple[Any, ...]) -> None:
        """One piece of the worker's work; an error is logged, never raised."""
        try:
            if item[0] == "fix":
                self._append(*item[1:])
            elif item[0] == "track":
                self._finish(*item[1:])
            else:
                self._sync_journals()
                for seq, partial in list(self._waiting.items()):
                    if not os.path.exists(partial):  # recovered (or moved to LOST)
                        del self._waiting[seq]
                        self._rebuild(seq)
        except Exception:  # noqa: BLE001 - a track is never worth the thread
            log.exception("tracks: %s failed", item[:2])

    def _idle_s(self) -> float:
        if not any(j.dirty for j in self._journals.values()):
            return IDLE_S
        due_s = self._synced_mono + JOURNAL_SYNC_S - self._clock.monotonic()
        return min(IDLE_S, max(0.0, due_s))

    # -- the journal (the worker's thread) --------------------------------------------

    def _append(self, seq: int, at_s: float, fix: Fix) -> None:
        """Append one report to the clip's journal; opened at its first fix."""
        journal = self._journals.get(seq)
        if journal is None:
            if seq in self._broken or not fix.has_fix:
                return  # reports before the first fix draw nothing
            path = self._library.card.track_journal_path(seq)
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW
            try:
                journal = self._journals[seq] = _Journal(os.open(path, flags, 0o644))
            except OSError as exc:
                self._journal_failed(seq, exc)
                return
        line = journal_line(at_s, fix)
        try:
            if os.write(journal.fd, line) != len(line):
                raise OSError(f"short write to the journal of {seq:08d}")
        except OSError as exc:
            self._journal_failed(seq, exc)
            return
        journal.dirty = True

    def _sync_journals(self, force: bool = False) -> None:
        """Sync the journals written since their last sync, at most once per
        :data:`JOURNAL_SYNC_S` (``force``: now)."""
        dirty = [(s, j) for s, j in self._journals.items() if j.dirty]
        now = self._clock.monotonic()
        if not dirty or (not force and now - self._synced_mono < JOURNAL_SYNC_S):
            return
        for seq, journal in dirty:
            try:
                self._library.fs.sync(journal.fd)
            except OSError as exc:
                self._journal_failed(seq, exc)
                continue
            journal.dirty = False
            if journal.new:  # its name in TRACK is durable too
                fsync_dir(self._library.card.track_dir)
                journal.new = False
            if self._journal_failing:
                log.info("track journals are written again")
                self._journal_failing = False
        self._synced_mono = self._clock.monotonic()  # the next a second after this ends

    def _journal_failed(self, seq: int, exc: OSError) -> None:
        """Stop journaling clip ``seq`` (its track is still written when it closes); the
        first failure in a row is logged."""
        journal = self._journals.pop(seq, None)
        if journal is not None:
            os.close(journal.fd)
        self._broken.add(seq)
        if not self._journal_failing:
            log.warning("track journal of %08d not written: %s", seq, exc)
        self._journal_failing = True

    def _finish(self, seq: int, track: Track) -> None:
        """A closed, indexed clip: write its track, then delete its journal."""
        journal = self._journals.pop(seq, None)
        if journal is not None:
            os.close(journal.fd)
        self._broken.discard(seq)
        if not track.points or self._write(seq, track):
            unlink(self._library.card.track_journal_path(seq))

    # -- the start: what a power cut or a PC left in TRACK ----------------------------

    def _tidy(self) -> None:
        """Turn the journals left over into tracks; delete what TRACK holds for no clip: a
        write a power cut cut short (``.tmp``), the track of a clip deleted while the
        appliance was off (a card read on a PC)."""
        folder = self._library.card.track_dir
        try:
            with os.scandir(folder) as entries:
                names = [e.name for e in entries if e.is_file(follow_symlinks=False)]
        except OSError as exc:
            log.warning("TRACK cannot be read: %s", exc)
            return
        journals = []
        for name in sorted(names):
            m = TRACK_RE.match(name)
            if m is None:
                if name.endswith(".tmp"):
                    unlink(os.path.join(folder, name))
                continue
            seq = int(m.group(1))
            if name.endswith(TRACK_JOURNAL_EXT):
                journals.append((seq, name))
                continue
            try:
                item = self._library.get(seq)
            except NotFound:
                log.info("TRACK: %s belongs to no clip; deleted", name)
                unlink(os.path.join(folder, name))
                continue
            self._move_beside(item, os.path.join(folder, name))
        for seq, name in journals:  # after the tracks written before the cut have moved
            partial = self._partial_of(seq)
            if partial is not None:  # the scan found it; the controller recovers it
                log.info("TRACK: %s waits for its clip's recovery", name)
                self._waiting[seq] = partial
            else:
                self._rebuild(seq)

    def _move_beside(self, item: Any, old: str) -> None:
        """A track an older version left in TRACK goes beside its clip (a player opening
        the clip finds its subtitles there)."""
        try:
            with open(old, "rb") as fh:
                data = fh.read(JOURNAL_MAX_BYTES)
            if self._library.place_sidecar(item.seq, os.path.splitext(old)[1], data):
                log.info("TRACK: %s moved beside %s", os.path.basename(old), item.name)
            unlink(old)
        except OSError as exc:
            log.warning("TRACK: %s not moved beside its clip: %s", os.path.basename(old), exc)

    def _partial_of(self, seq: int) -> str | None:
        """The left-over ``.partial`` of clip ``seq`` on the card, or None."""
        card = self._library.card
        name = f"{seq:08d}_*{VIDEO_EXT}{PARTIAL_SUFFIX}"
        for folder in (
            os.path.join(glob.escape(card.loop_dir), "*"),
            glob.escape(card.protected_dir),
        ):
            found = glob.glob(os.path.join(folder, name))
            if found:
                return found[0]
        return None

    def _rebuild(self, seq: int) -> None:
        """Write clip ``seq``'s track from its journal, then delete the journal (at once,
        without a clip)."""
        path = self._library.card.track_journal_path(seq)
        try:
            item = self._library.get(seq)
        except NotFound:
            log.info("TRACK: %s belongs to no clip; deleted", os.path.basename(path))
            unlink(path)
            return
        if all(os.path.exists(p) for p in self._library.track_paths(item)):
            unlink(path)  # written before the power cut, the journal not yet deleted
            return
        try:
            track, bad = read_journal(path)
        except OSError as exc:
            log.warning("track journal of %08d cannot be read: %s", seq, exc)
            return
        if bad:
            log.warning("track journal of %08d: %d lines unreadable, skipped", seq, bad)
        log.info("track of %08d recovered from its journal", seq)
        if not track.points or self._write(seq, track):
            unlink(path)

    def _write(self, seq: int, track: Track) -> bool:
        """Write the clip's GPX and SRT beside it; returns False if the card failed
        (logged)."""
        try:
            item = self._library.get(seq)
        except NotFound:
            return True  # deleted before its track was written
        offset = utc_offset_text(stamp_wall_s(item.stamp))
        gpx = track.to_gpx(f"{seq:08d}", clip=item.name, utc_offset=offset)
        texts = ((".gpx", gpx), (".srt", track.to_srt(self.unit, end_s=item.duration_s)))
        placed: list[str] = []
        try:
            for ext, text in texts:
                path = self._library.place_sidecar(seq, ext, text.encode("utf-8"))
                if path is None:  # deleted while the track was being written
                    for done in placed:
                        unlink(done)
                    return True
                placed.append(path)
        except OSError as exc:
            log.warning("track of %08d not written: %s", seq, exc)
            for path in placed:
                unlink(path)
            return False
        log.info("track of %08d: %d points", seq, len(track.points))
        return True


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
