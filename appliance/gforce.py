"""An impact's G-force record: its samples beside the clip it happened in, on the video's
time base.

:class:`appliance.impact.ImpactWatcher` hands over each impact with its samples, from
:data:`~appliance.impact.SAMPLES_BEFORE_S` before to :data:`~appliance.impact.SAMPLES_AFTER_S`
after. :class:`GForceRecorder` times them from the start of the clip that was recording at
the impact (the recorder's monotonic clock, the G-sensor's too: ``t_s`` 0 is the clip's
first frame, as a player counts; samples before it are negative) and, once that clip is
closed and indexed, writes ``<clip>.csv`` beside it on its own thread (a rollover never
waits for it). The file travels with the clip (it is one of its sidecars) and an incident's
export merges it on the export's time line.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from appliance.errors import NotFound
from appliance.impact import Impact, Sample
from appliance.worker import Worker

log = logging.getLogger(__name__)

#: The CSV's header.
HEADER = "t_s,utc,x_g,y_g,z_g,g\n"
#: Segment starts remembered (an impact's samples come 5 s after it).
STARTS_KEPT = 16
#: Longest wait at shutdown for the records still to be written.
CLOSE_WAIT_S = 2.0


def csv_text(rows: Iterable[tuple[float, float, Sample]]) -> str:
    """The CSV of ``(t_s on the video's time base, UTC epoch seconds, sample)`` rows."""
    out = [HEADER]
    for t_s, wall_s, s in rows:
        utc = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall_s))
            + f".{int(wall_s % 1 * 1000):03d}Z"
        )
        g = "" if s.g is None else f"{s.g:.4f}"
        out.append(f"{t_s:.3f},{utc},{s.x_g:.4f},{s.y_g:.4f},{s.z_g:.4f},{g}\n")
    return "".join(out)


def read_rows(text: str) -> list[list[str]]:
    """The data rows of a G-force CSV (its header left out)."""
    lines = text.splitlines()
    if not lines or lines[0] + "\n" != HEADER:
        raise ValueError("not a G-force record")
    return [line.split(",") for line in lines[1:] if line]


class GForceRecorder:
    """Writes each impact's samples beside the clip it happened in.

    Args:
        library: The card's library (the clip, and :meth:`~Library.place_sidecar`).
        recorder: The recorder: its ``status`` (the open segment and its start).
        clock: The recorder's clock (monotonic, and wall for the UTC column).
    """

    def __init__(self, library: Any, recorder: Any, clock: Any) -> None:
        self._library = library
        self._recorder = recorder
        self._clock = clock
        self._lock = threading.Lock()
        self._starts: dict[int, float] = {}  # segment seq -> its start, monotonic
        self._pending: dict[int, dict[float, tuple[float, float, Sample]]] = {}
        self._todo: queue.SimpleQueue[tuple[int, str] | None] = queue.SimpleQueue()
        self._worker = Worker(self._run, "gforce")
        self.written: list[str] = []

    def start(self) -> GForceRecorder:
        self._worker.start()
        return self

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Write what is ready, then stop."""
        self.on_status()
        self._todo.put(None)
        self._worker.join(wait_s)

    def on_status(self, _status: object = None) -> None:
        """A status snapshot: note the open segment's start; write the records whose clip
        is indexed now."""
        with self._lock:
            self._note_segment()
            ready = []
            for seq in list(self._pending):
                try:
                    self._library.get(seq)
                except NotFound:
                    continue
                ready.append((seq, csv_text(sorted(self._pending.pop(seq).values()))))
        for item in ready:
            self._todo.put(item)

    def on_samples(self, impact: Impact, samples: list[Sample]) -> None:
        """An impact's samples (the G-sensor's thread): timed from its clip's start."""
        with self._lock:
            self._note_segment()
            starts = [(start, seq) for seq, start in self._starts.items() if start <= impact.t_s]
            if not starts:
                log.info("gforce: an impact while nothing recorded: no record beside a clip")
                return
            start, seq = max(starts)
            wall_now, mono_now = self._clock.wall(), self._clock.monotonic()
            rows = self._pending.setdefault(seq, {})
            for s in samples:
                rows[round(s.t_s - start, 3)] = (s.t_s - start, wall_now - (mono_now - s.t_s), s)
        self.on_status()

    def _note_segment(self) -> None:
        rec = self._recorder.status
        if rec.recording and rec.seq is not None and rec.segment_started_mono is not None:
            self._starts[rec.seq] = rec.segment_started_mono
            for old in sorted(self._starts)[:-STARTS_KEPT]:
                del self._starts[old]

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            seq, text = item
            try:
                path = self._library.place_sidecar(seq, ".csv", text.encode("ascii"))
            except OSError as exc:  # the card: the record is lost, the recording goes on
                log.warning("gforce: the record of %08d not written: %s", seq, exc)
                continue
            if path is not None:
                self.written.append(path)
                log.info("gforce: an impact's samples beside %s", path)


def merged_csv(parts: Iterable[tuple[float, str]]) -> str | None:
    """One record from ``(where a clip starts in the export, its CSV text)``: the rows on
    the export's time line; None when no part has a row."""
    rows = []
    for start_s, text in parts:
        for row in read_rows(text):
            rows.append((float(row[0]) + start_s, row))
    if not rows:
        return None
    rows.sort(key=lambda r: r[0])
    return HEADER + "".join(f"{t:.3f},{','.join(row[1:])}\n" for t, row in rows)


OnSamples = Callable[[Impact, list[Sample]], None]
