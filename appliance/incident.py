"""Incidents: the clips around a moment worth keeping, protected together and listed.

An incident takes the clip before the moment, the clip being recorded and the next one
(:func:`select_clips` decides which, from what is open and what is closed). Clips already
closed are protected at once; open segments are *marked* and close straight into
PROTECTED. :class:`Incidents` keeps the marks and the record of every incident of a card:

- ``DCIM/PROTECTING`` holds the marked open segments (one sequence number a line), so a
  power cut before they close does not lose the protection: the recovered partial goes
  into PROTECTED.
- ``DCIM/INCIDENTS`` holds the incidents (JSON: id, kind, wall-clock time, clips), newest
  last, so the list survives a restart.

Both are written atomically and synced; a card that fails to take them is logged and the
protection still applies in memory.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from appliance.card.files import fsync_dir, read_small_file, write_atomic
from appliance.ports import FileSystem

log = logging.getLogger(__name__)

#: Open segments marked for protection (see the module docstring).
PROTECTING_FILE = "PROTECTING"
#: The record of the incidents (see the module docstring).
INCIDENTS_FILE = "INCIDENTS"
#: The record keeps at most this many incidents; the oldest records go first (their
#: clips stay protected).
INCIDENTS_MAX = 1000
#: Largest INCIDENTS file read back.
INCIDENTS_MAX_BYTES = 512 * 1024


class IncidentKind(enum.StrEnum):
    """What made an incident."""

    MANUAL = "manual"  # the protect button or the dashboard
    IMPACT = "impact"  # the G-sensor felt an impact over its threshold
    PARKING = "parking"  # a parking clip: motion or a bump while the car was parked


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as listed.

    Attributes:
        id: Its number on this card, rising from 1.
        kind: What made it.
        wall_s: Wall-clock time of the moment (seconds since the epoch; a Pi without a
            real-time clock may be wrong here, the clips' order is not).
        clips: Sequence numbers of its clips, ascending.
        complete: False while a clip of it is still being recorded (or awaited).
        peak_g: An impact's peak acceleration, gravity removed; None for other kinds.
        lat_deg, lon_deg: Where it happened (the GPS fix of the moment), or None without.
    """

    id: int
    kind: IncidentKind
    wall_s: float
    clips: tuple[int, ...]
    complete: bool = True
    peak_g: float | None = None
    lat_deg: float | None = None
    lon_deg: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the record on the card and the API)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "wall_s": self.wall_s,
            "clips": list(self.clips),
            "complete": self.complete,
            "peak_g": self.peak_g,
            "lat": self.lat_deg,
            "lon": self.lon_deg,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        """The incident of a record written by :meth:`to_dict` (read back: complete).

        Raises:
            ValueError: a field is missing or of the wrong type.
        """
        try:
            ident, wall_s, clips = data["id"], data["wall_s"], data["clips"]
            kind = IncidentKind(data["kind"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an incident record: {exc}") from exc
        if type(ident) is not int or ident < 1 or not isinstance(wall_s, int | float):
            raise ValueError("not an incident record: bad id or time")
        if not isinstance(clips, list) or any(type(s) is not int or s < 0 for s in clips):
            raise ValueError("not an incident record: bad clips")
        peak_g = data.get("peak_g")
        if peak_g is not None and (type(peak_g) not in (int, float) or not 0 <= peak_g < 1e3):
            raise ValueError("not an incident record: bad peak_g")
        peak = None if peak_g is None else float(peak_g)
        lat, lon = _position(ident, data.get("lat"), data.get("lon"))
        clips_ = tuple(sorted(set(clips)))
        return cls(ident, kind, float(wall_s), clips_, peak_g=peak, lat_deg=lat, lon_deg=lon)


def _position(ident: int, lat: Any, lon: Any) -> tuple[float | None, float | None]:
    """The (latitude, longitude) of a record; (None, None) if it has none (a record
    written before positions were kept) or a broken one (the incident itself is kept)."""
    if lat is None and lon is None:
        return None, None
    numbers = all(type(v) in (int, float) for v in (lat, lon))
    if numbers and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0:
        return float(lat), float(lon)
    log.warning("%s: incident %s: position %r, %r dropped", INCIDENTS_FILE, ident, lat, lon)
    return None, None


@dataclass(frozen=True, slots=True)
class Selection:
    """Which clips an incident takes, as decided at the moment.

    Attributes:
        now: Closed clips to protect at once.
        marked: Open segments that go into PROTECTED when they close.
        next_segment: The next segment to begin belongs to the incident too.
        clips: Every clip of the incident known so far (``now``, ``marked`` and the
            segment of the moment).
    """

    now: tuple[int, ...]
    marked: tuple[int, ...]
    next_segment: bool
    clips: tuple[int, ...]


def select_clips(
    open_seq: int | None,
    open_segments: Collection[int],
    newest_clip_before: Callable[[int | None], int | None],
) -> Selection:
    """Decide the clips of an incident: previous, current and next segment.

    Args:
        open_seq: The segment being recorded at the moment; or one that has just closed
            (the moment came between two segments: a segment already begun after it counts
            as the next); None when nothing records (the newest clip alone is taken).
        open_segments: Sequence numbers of the segments being written now.
        newest_clip_before: The closed clip with the highest seq below a seq (None: any),
            or None if there is none.
    """
    if open_seq is None:
        newest = newest_clip_before(None)
        clips = () if newest is None else (newest,)
        return Selection(now=clips, marked=(), next_segment=False, clips=clips)
    now: list[int] = []
    marked: list[int] = []
    # The previous segment: the newest before open_seq, still closing (open) or closed.
    prev = newest_clip_before(open_seq)
    prev_open = max((s for s in open_segments if s < open_seq), default=None)
    if prev_open is not None and (prev is None or prev_open > prev):
        marked.append(prev_open)
    elif prev is not None:
        now.append(prev)
    # The segment of the moment: marked, or protected now if it has already closed.
    (marked if open_seq in open_segments else now).append(open_seq)
    # The next segment: already begun (the moment came as segments switched), or the
    # next one to begin.
    newer = sorted(s for s in open_segments if s > open_seq)
    marked.extend(newer)
    clips = tuple(sorted({*now, *marked}))
    return Selection(tuple(now), tuple(marked), next_segment=not newer, clips=clips)


@dataclass
class _Progress:
    """What an incident in progress still waits for."""

    open: set[int] = field(default_factory=set)  # its marked segments not yet closed
    awaits_next: bool = False


class Incidents:
    """The incidents of one card: marks on open segments and the record of all.

    Not thread-safe: the library calls it with its own lock held.

    Args:
        dcim_dir: The card's DCIM folder (PROTECTING and INCIDENTS live there).
        fs: The file-system port the writes are synced through.
    """

    def __init__(self, dcim_dir: str, fs: FileSystem) -> None:
        self.dcim_dir = dcim_dir
        self.protecting_path = os.path.join(dcim_dir, PROTECTING_FILE)
        self.incidents_path = os.path.join(dcim_dir, INCIDENTS_FILE)
        self._fs = fs
        self._marked: set[int] = set()  # open segments that go to PROTECTED when closed
        self._written_marks: frozenset[int] = frozenset()  # what PROTECTING holds
        self._recovered: set[int] = set()  # partials found marked in PROTECTING
        self._records: list[Incident] = []  # oldest first
        self._progress: dict[int, _Progress] = {}  # incident id -> what it waits for
        self._run: set[int] = set()  # clips of the incidents since none was in progress

    # --- the card's files -----------------------------------------------------------

    def load(self, open_segments: Iterable[int], partials: Iterable[int]) -> None:
        """Read PROTECTING and INCIDENTS of a card just scanned.

        Args:
            open_segments: Segments still being written (their marks are kept).
            partials: Left-over partials found by the scan: those marked in PROTECTING
                go into PROTECTED when :meth:`adopting` is called for them.
        """
        on_card = frozenset(self._read_marks())
        self._marked &= set(open_segments)
        self._recovered = set(on_card & set(partials))
        self._written_marks = on_card
        in_progress = {i.id: i for i in self._records if i.id in self._progress}
        records = {i.id: i for i in self._read_records()}
        records.update(in_progress)
        self._records = sorted(records.values(), key=lambda i: i.id)[-INCIDENTS_MAX:]

    def _read_marks(self) -> set[int]:
        try:
            return {int(line) for line in read_small_file(self.protecting_path).split()}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s); no partial is protected from it", PROTECTING_FILE, exc)
            return set()

    def _read_records(self) -> list[Incident]:
        try:
            text = read_small_file(self.incidents_path, INCIDENTS_MAX_BYTES)
            rows = json.loads(text)["incidents"]
            if not isinstance(rows, list):
                raise ValueError("incidents is not a list")
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("unreadable %s (%s); the list starts again", INCIDENTS_FILE, exc)
            return []
        records: list[Incident] = []
        for row in rows:
            try:
                records.append(Incident.from_dict(row))
            except ValueError as exc:
                log.warning("%s: skipping a record: %s", INCIDENTS_FILE, exc)
        return records

    def _write(self, path: str, text: str) -> bool:
        try:
            write_atomic(self._fs, path, text.encode("ascii"))
            fsync_dir(self.dcim_dir)
        except OSError as exc:
            log.warning("cannot write %s: %s", os.path.basename(path), exc)
            return False
        return True

    def _persist_marks(self) -> None:
        """Write the marked open segments to PROTECTING, if they changed."""
        wanted = frozenset(self._marked)
        if wanted != self._written_marks and self._write(
            self.protecting_path, "".join(f"{seq}\n" for seq in sorted(wanted))
        ):
            self._written_marks = wanted

    def _persist_records(self) -> None:
        rows = [{k: v for k, v in i.to_dict().items() if k != "complete"} for i in self._records]
        self._write(self.incidents_path, json.dumps({"incidents": rows}, separators=(",", ":")))

    # --- incidents ------------------------------------------------------------------

    def begin(
        self,
        kind: IncidentKind,
        wall_s: float,
        selection: Selection,
        peak_g: float | None = None,
        position: tuple[float, float] | None = None,
    ) -> Incident | None:
        """Record a new incident: its open segments are marked (PROTECTING is written
        first), then the record. An incident with no clip at all is not recorded.
        ``position`` is (latitude, longitude) of the moment, or None without a GPS fix.

        Returns:
            The incident, or None if it has no clip.
        """
        self._marked.update(selection.marked)
        self._run.update(selection.clips)
        self._persist_marks()
        if not selection.clips and not selection.next_segment:
            return None
        ident = self._records[-1].id + 1 if self._records else 1
        progress = _Progress(set(selection.marked), selection.next_segment)
        lat, lon = position if position is not None else (None, None)
        incident = Incident(
            ident, kind, wall_s, selection.clips, False, peak_g, lat_deg=lat, lon_deg=lon
        )
        self._progress[ident] = progress
        self._records.append(incident)
        del self._records[:-INCIDENTS_MAX]
        self._settle(ident)
        self._persist_records()
        return incident

    def segment_begun(self, seq: int) -> None:
        """A segment began: it joins (and is marked for) every incident awaiting the next."""
        waiting = [ident for ident, p in self._progress.items() if p.awaits_next]
        if not waiting:
            return
        self._marked.add(seq)
        self._run.add(seq)
        self._persist_marks()
        for ident in waiting:
            progress = self._progress[ident]
            progress.awaits_next = False
            progress.open.add(seq)
            self._change(ident, lambda i: replace(i, clips=tuple(sorted({*i.clips, seq}))))
        self._persist_records()

    def is_marked(self, seq: int) -> bool:
        """True if the open segment ``seq`` goes into PROTECTED when it closes."""
        return seq in self._marked

    def adopting(self, seq: int) -> None:
        """A left-over partial is taken in: marked before the power cut, it is again."""
        if seq in self._recovered:
            self._recovered.discard(seq)
            self._marked.add(seq)

    def closed(self, seq: int) -> None:
        """A marked segment has closed into PROTECTED."""
        self._drop(seq)

    def forget(self, seq: int) -> None:
        """An open segment is gone (never created, lost, vanished): no longer marked."""
        self._drop(seq)

    def recording_stopped(self, open_segments: Collection[int]) -> None:
        """Recording stopped: no incident waits for a next segment any more, and marks of
        segments no longer open are dropped."""
        self._marked &= set(open_segments)
        for ident, progress in list(self._progress.items()):
            progress.awaits_next = False
            progress.open &= self._marked
            self._settle(ident)
        self._end_run_if_idle()

    def shield(self) -> set[int]:
        """Clips the protected quota must not delete: every clip of the incidents since
        none was in progress, and every marked segment."""
        return self._run | self._marked

    def end_moment(self) -> None:
        """Called after a protect has been handled: forget the run if nothing waits."""
        self._end_run_if_idle()

    def progress(self, ident: int) -> tuple[tuple[int, ...], bool] | None:
        """What the incident ``ident`` still waits for: (its segments being recorded, and
        whether it waits for a next one to begin); None when it waits for nothing."""
        progress = self._progress.get(ident)
        if progress is None:
            return None
        return tuple(sorted(progress.open)), progress.awaits_next

    def incidents(self) -> list[Incident]:
        """Every recorded incident, newest first."""
        return self._records[::-1]

    # --- helpers --------------------------------------------------------------------

    def _drop(self, seq: int) -> None:
        self._marked.discard(seq)
        self._persist_marks()
        for ident, progress in list(self._progress.items()):
            progress.open.discard(seq)
            self._settle(ident)
        self._end_run_if_idle()

    def _settle(self, ident: int) -> None:
        """Mark incident ``ident`` complete once it waits for nothing."""
        progress = self._progress[ident]
        if not progress.open and not progress.awaits_next:
            del self._progress[ident]
            self._change(ident, lambda i: replace(i, complete=True))

    def _change(self, ident: int, change: Callable[[Incident], Incident]) -> None:
        for n, incident in enumerate(self._records):
            if incident.id == ident:
                self._records[n] = change(incident)
                return

    def _end_run_if_idle(self) -> None:
        if not self._marked and not any(p.awaits_next for p in self._progress.values()):
            self._run.clear()
