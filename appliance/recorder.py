"""The recorder: camera packets from a bounded queue into one-minute MP4 segments.

The camera's thread only puts packets on the queue (never blocks: past the bound a packet
is dropped and counted). The recorder's own thread writes them by stream copy. A segment
opens at a keyframe and the next one opens at the first keyframe at or after
``segment_seconds``: the packet that ends one segment starts the next, so no frame is
lost or doubled between segments.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from appliance.items import Item, SegmentPlan
from appliance.library import Library
from appliance.media.segment import SegmentWriter, thumbnail_jpeg
from appliance.ports import PTS_PER_SECOND, CameraInfo, Clock, EncodedPacket
from appliance.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    recording: bool
    seq: int | None
    segment_started_mono: float | None
    frames_written: int
    frames_dropped: int


class _Command:
    __slots__ = ("name", "done")

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = threading.Event()


class Recorder:
    """Writes the camera's packets into segments on its own thread.

    Args:
        library: Where segments are planned, pruned and indexed.
        info: The camera's stream description.
        segment_seconds: Target segment length.
        queue_packets: Bound of the packet queue (frames); past it packets are dropped.
        jobs: Runs thumbnails off the packet path.
        on_storage_full: Called when pruning cannot make room for a new segment.
        on_error: Called with an exception that stopped the recording (not a storage one).
        on_storage_error: Called with the ``OSError`` of a card that failed under the
            recording (gone, read-only, EIO, ENOSPC); ``on_error`` if None.
        max_fragment_s: Longest fragment when keyframes come late (bounds what a power cut
            loses then); None leaves fragments to the keyframes alone.
        on_change: Called whenever the status changes (segment opened or closed).
        clock: The monotonic clock of ``segment_started_mono`` and the wall clock of a
            segment's creation time; ``Clock()`` if None.
        provenance: Write which camera frames each segment holds into its comment tag
            (``first_frame=... first_pts_us=...``): the simulation does, for its tests; a
            Pi's clips carry no such text.
        on_closed: Called on the recorder thread with each segment closed and indexed
            (the sealer queues it: never blocks).
    """

    def __init__(
        self,
        library: Library,
        info: CameraInfo,
        *,
        segment_seconds: float = 60.0,
        queue_packets: int | None = None,
        jobs: Executor | None = None,
        on_storage_full: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_storage_error: Callable[[OSError], None] | None = None,
        on_change: Callable[[], None] | None = None,
        max_fragment_s: float | None = None,
        clock: Clock | None = None,
        provenance: bool = False,
        on_closed: Callable[[Item], None] | None = None,
    ) -> None:
        self._library = library
        self._info = info
        self.segment_seconds = segment_seconds
        self._max_queued = queue_packets or max(30, info.fps * 4)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        # Packets put and taken: one writer each (camera thread, recorder thread), so the
        # queue depth needs no lock. Commands are never dropped and not counted.
        self._put = 0
        self._taken = 0
        self._backlog = 0  # packets of a backlog still counted on top of the bound
        self._jobs = jobs
        self._clock = clock or Clock()
        self._on_storage_full = on_storage_full
        self._on_error = on_error
        self._on_storage_error = on_storage_error
        self.max_fragment_s = max_fragment_s
        self._on_change = on_change
        self.provenance = provenance
        self.on_closed = on_closed
        self._want = False
        self._writer: SegmentWriter | None = None
        self._plan: SegmentPlan | None = None
        self._started_mono: float | None = None
        self.frames_written = 0
        self.frames_dropped = 0
        self.headroom_bytes = 0  # room kept for the next segment on top of the reserve
        self._last_segment_bytes = 0
        self.last_closed_seq: int | None = None  # the newest footage: never pruned
        self._worker = Worker(self._run, "recorder").start()

    # --- called from other threads -------------------------------------------------

    def put(self, packet: EncodedPacket) -> None:
        """The camera's packet sink (one camera thread). Never blocks; drops past the bound."""
        depth = self._put - self._taken
        if self._backlog and depth <= self._max_queued:
            self._backlog = 0  # the backlog has drained
        if depth >= self._max_queued + self._backlog:
            self.frames_dropped += 1
            return
        self._put += 1
        self._queue.put(packet)

    def put_backlog(self, packets: list[EncodedPacket]) -> None:
        """Queue ``packets`` (the parking pre-roll) whole, past the bound, from the thread
        that calls :meth:`put`; the bound grows by as many until they are written, so the
        live packets behind them are not dropped either."""
        self._backlog = max(0, self._put - self._taken - self._max_queued) + len(packets)
        for packet in packets:
            self._put += 1
            self._queue.put(packet)

    def start_recording(self, wait_s: float | None = None) -> bool:
        """Open a segment at the next keyframe (ask the camera for one first)."""
        return self._command("start", wait_s)

    def stop_recording(self, wait_s: float | None = 10.0) -> bool:
        """Close the open segment; with ``wait_s`` wait until it is closed and indexed."""
        return self._command("stop", wait_s)

    def close(self, wait_s: float = 10.0) -> None:
        """Close the open segment and end the thread, waiting at most ``wait_s`` in all."""
        if self._worker.alive:
            deadline = self._clock.monotonic() + wait_s
            if self._command("quit", wait_s):
                self._worker.join(max(0.0, deadline - self._clock.monotonic()))
            else:
                log.error("the recorder did not close its segment within %.1f s", wait_s)

    @property
    def status(self) -> RecorderStatus:
        plan = self._plan
        return RecorderStatus(
            recording=self._writer is not None,
            seq=plan.seq if plan else None,
            segment_started_mono=self._started_mono,
            frames_written=self.frames_written,
            frames_dropped=self.frames_dropped,
        )

    @property
    def frames_seen(self) -> int:
        """Packets the recorder thread has taken off the queue."""
        return self._taken

    @property
    def queued(self) -> int:
        """Packets waiting on the queue."""
        return self._put - self._taken

    @property
    def wants_recording(self) -> bool:
        return self._want

    def _command(self, name: str, wait_s: float | None) -> bool:
        cmd = _Command(name)
        self._queue.put(cmd)
        return cmd.done.wait(wait_s) if wait_s else True

    # --- the recorder thread ---------------------------------------------------------

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if type(item) is _Command:
                quit_ = item.name == "quit"
                try:
                    self._handle(item)
                except Exception:  # noqa: BLE001 - the recorder thread never dies
                    log.exception("recorder command %s failed", item.name)
                finally:
                    item.done.set()
                if quit_:
                    return
                continue
            self._taken += 1
            try:
                self._packet(item)
            except Exception as exc:  # noqa: BLE001 - any failure stops the recording
                try:
                    self._fail(exc)
                except Exception:  # noqa: BLE001 - nor does its error path
                    log.exception("handling a recording failure failed")

    def _handle(self, cmd: _Command) -> bool:
        if cmd.name == "start":
            self._want = True
        elif cmd.name in ("stop", "quit"):
            self._want = False
            try:
                self._close_segment()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc)
            self._library.recording_stopped()
        return cmd.name == "quit"

    def _packet(self, packet: EncodedPacket) -> None:
        writer = self._writer
        if writer is None:
            if self._want and packet.keyframe:
                self._open_segment(packet)
            return
        if (
            packet.keyframe
            and packet.pts_us - writer.first.pts_us
            >= self.segment_seconds * PTS_PER_SECOND - PTS_PER_SECOND // (2 * self._info.fps)
        ):
            self._close_segment()
            self._open_segment(packet)
            return
        writer.write(packet)
        self.frames_written += 1

    def _open_segment(self, first: EncodedPacket) -> None:
        headroom = max(self.headroom_bytes, self._last_segment_bytes * 3 // 2)
        result = self._library.prune(writing=self.last_closed_seq, headroom_bytes=headroom)
        if not result.ok:
            log.warning("storage full: nothing left to prune; recording stops")
            self._want = False
            self._library.recording_stopped()
            if self._on_storage_full:
                self._on_storage_full()
            return
        plan = self._library.begin_segment()
        try:
            self._writer = SegmentWriter(
                plan.partial_path,
                self._info,
                first,
                max_fragment_s=self.max_fragment_s,
                sync=self._library.fs.sync,
                created_wall_s=self._clock.wall(),
                comment=(
                    f"first_frame={first.frame_index} first_pts_us={first.pts_us}"
                    if self.provenance
                    else None
                ),
            )
        except BaseException:
            self._library.abandon_segment(plan)
            raise
        self._plan = plan
        self._started_mono = self._clock.monotonic()
        self.frames_written += 1
        log.info("segment %08d opened at frame %d", plan.seq, first.frame_index)
        if self._on_change:
            self._on_change()

    def _close_segment(self) -> None:
        writer, plan = self._writer, self._plan
        if writer is None or plan is None:
            return
        self._writer = None
        self._started_mono = None
        try:
            writer.close()
        finally:
            item = self._library.finish_segment(plan, writer.duration_s)
            self._plan = None
        self._last_segment_bytes = item.size
        self.last_closed_seq = item.seq
        if self.on_closed is not None:
            try:
                self.on_closed(item)
            except Exception:  # noqa: BLE001 - sealing is never worth the recording
                log.exception("on_closed failed for %08d", item.seq)
        keyframe = writer.first.data
        if self._jobs is not None:
            try:
                self._jobs.submit(self._thumbnail, item.seq, keyframe)
            except RuntimeError:  # shutting down: the next start makes it from the file
                log.info("no thumbnail for %08d: shutting down", item.seq)
        else:
            self._thumbnail(item.seq, keyframe)
        if self._on_change:
            self._on_change()

    def _thumbnail(self, seq: int, keyframe: bytes) -> None:
        try:
            self._library.set_thumbnail(seq, thumbnail_jpeg(keyframe))
        except Exception as exc:  # noqa: BLE001 - a thumbnail is never worth a crash
            log.warning("thumbnail of %08d failed: %s", seq, exc)

    def _fail(self, exc: BaseException) -> None:
        log.error("recording failed: %s", exc)
        self._want = False
        try:
            self._close_segment()
        except Exception as close_exc:  # noqa: BLE001
            log.error("closing the segment after a failure failed too: %s", close_exc)
            self._writer = None
            self._plan = None
        if isinstance(exc, OSError) and self._on_storage_error is not None:
            self._on_storage_error(exc)  # ENOSPC too: the pruner did not foresee it
        elif self._on_error:
            self._on_error(exc)
