"""The media library: the card's index, sequence numbers, paging, pruning and protection.

Everything on the card is ordered by one monotonic sequence number that survives reboots,
never by mtime or wall clock (a Pi has no real-time clock and may boot in 1970). The
layout and the index are :mod:`appliance.items`; the card's folders, health and numbers
:mod:`appliance.card.volume`; the one pass over the card at start :mod:`appliance.card.scan`;
which clips go :mod:`appliance.pruning`; incidents (protect) :mod:`appliance.incident`.

The card is read once by :meth:`Library.scan`; after that every change goes through the
library, which keeps its index current and never rescans.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Container, Iterable
from typing import TYPE_CHECKING

from appliance.card.files import fsync_dir, storage_error, unlink, write_atomic, write_file
from appliance.card.scan import LostFolder, partial_segment_seq, read_card
from appliance.card.volume import Card
from appliance.errors import NotFound
from appliance.incident import Incident, IncidentKind, Incidents, Selection, select_clips
from appliance.items import (
    ALL_KINDS,
    MEDIA_RE,
    PARTIAL_SUFFIX,
    PHOTO_EXT,
    SIDECAR_EXTS,
    VIDEO_EXT,
    Index,
    Item,
    Kind,
    PruneResult,
    SegmentPlan,
    StorageFigures,
    day_of,
    make_thumbnail,
    stamp_and_day,
)
from appliance.ports import Clock, DiskUsage, DiskUsageFn, FileSystem, real_disk_usage
from appliance.pruning import choose_loop_victims, choose_protected_victims, reserve_bytes

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.live_settings import LiveSettings

log = logging.getLogger(__name__)


class Library:
    """Index, layout, paging, pruning and protection of the clips and photos on the card.

    All methods are thread-safe. Call :meth:`scan` once before anything else.

    Args:
        root: The storage root (the card's mount point); ``DCIM`` lives under it.
        clock: Wall clock for the human-readable part of names; ``Clock()`` if None.
        disk_usage: Returns the total and free bytes of the file system at a path.
        min_free_bytes: The pruner keeps at least this much free.
        min_free_percent: ... and at least this percentage of the card's total.
        loop_quota_bytes: Loop clips may use at most this many bytes (None: no quota).
        protected_quota_percent: Protected clips may use at most this share of the card;
            past it the oldest protected clips are deleted.
        fs: The file-system calls a failing card breaks (sync, rename, mkdir); the
            recorder's segments are synced through it too.
        settings: The live settings: the storage policy (the four sizes above) is taken
            from them and follows each change published; None: the sizes given.

    Attributes:
        card: The card's folders, health and sequence file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        disk_usage: DiskUsageFn = real_disk_usage,
        min_free_bytes: int = 512 * 1024 * 1024,
        min_free_percent: float = 5.0,
        loop_quota_bytes: int | None = None,
        protected_quota_percent: float = 30.0,
        fs: FileSystem | None = None,
        settings: LiveSettings | None = None,
    ) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.min_free_bytes = int(min_free_bytes)
        self.min_free_percent = float(min_free_percent)
        self.loop_quota_bytes = loop_quota_bytes
        self.protected_quota_percent = float(protected_quota_percent)
        if settings is not None:
            self._follow_settings(settings.current)
            settings.subscribe(self._follow_settings)
        self._clock = clock if clock is not None else Clock()
        self._disk_usage = disk_usage
        self.fs = fs if fs is not None else FileSystem()

        self.card = card = Card(self.root, self.fs, disk_usage)
        self.sequence_path = card.sequence_path
        self._lost = LostFolder(card.lost_dir, self.fs)
        self._incidents = Incidents(card.dcim_dir, self.fs)  # guarded by _lock

        self._lock = threading.Lock()  # the index and every field below
        self._index = Index()
        self._thumbs: set[int] = set()
        self._open: dict[int, str] = {}  # seq -> partial path of segments/photos being written
        self._total_bytes: int | None = None
        self._scanned = False
        self._unrecovered: set[int] = set()  # partials of the last scan not yet adopted
        self.uploaded: Container[int] = frozenset()  # seqs safe at home: the loop's first to go
        self.device_key = None  # the sealer's signing key, once loaded (exports sign with it)
        self._watchers: list[Callable[[], None]] = []  # told of every change: subscribe()

    def subscribe(self, watcher: Callable[[], None]) -> Callable[[], None]:
        """Call ``watcher`` after every change made to the library by a request: a delete,
        a protect or unprotect, a prune that deleted clips. The controller publishes a new
        status on it, so no caller has to. It must be quick; it may not raise.

        Returns:
            A function that unsubscribes.
        """
        with self._lock:
            self._watchers.append(watcher)

        def unsubscribe() -> None:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

        return unsubscribe

    def _changed(self) -> None:
        """Tell the watchers of a change (never raises: the change is made)."""
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            try:
                watcher()
            except Exception:  # noqa: BLE001 - a watcher never undoes a change
                log.exception("library watcher failed")

    def _follow_settings(self, config: Config) -> None:
        """The storage policy of the live settings (the next prune and protect use it)."""
        self.min_free_bytes = int(config.min_free_bytes)
        self.min_free_percent = float(config.min_free_percent)
        self.loop_quota_bytes = config.loop_quota_bytes
        self.protected_quota_percent = float(config.protected_quota_percent)

    def scan(self) -> list[str]:
        """Create the layout and build the index with one pass over the card.

        Symlinks are never indexed (each is skipped with a warning), and a layout folder
        that is a symlink is refused. A second scan (a card put back) keeps sequence
        numbers rising and creates the layout but never the storage root itself.

        Returns:
            Absolute paths of left-over ``.mp4.partial`` files, oldest first; the recorder
            checks each and hands it to :meth:`adopt_partial`.

        Raises:
            OSError: the card is missing, not mounted, or cannot be written.
        """
        card = self.card
        identity = card.make_layout()
        found = read_card(card, self._lost)
        usage = self._disk_usage(self.root)
        next_seq = card.resume_sequence(found.max_seq)
        with self._lock:
            self._index = found.index
            self._thumbs = found.thumbs
            self._total_bytes = usage.total
            self._open = {s: p for s, p in self._open.items() if os.path.exists(p)}
            self._incidents.load(self._open.keys(), (seq for seq, _ in found.partials))
            self._unrecovered = {seq for seq, _ in found.partials}
            card.identity = identity
            self._scanned = True
        self._lost.trim()
        log.info(
            "library: %d items, %d left-over partials, next sequence %d",
            len(found.index.items),
            len(found.partials),
            next_seq,
        )
        return [path for _, path in found.partials]

    def check_card(self) -> None:
        """Quick check, for every second: the card is there, mounted, the same folder, and
        its file system answers. Writes nothing.

        Raises:
            OSError: the card is missing, unmounted or swapped.
        """
        if self._scanned:
            self.card.check_same()

    def check_storage(self) -> list[str]:
        """Check the card can be written: same card folder, a small file written, synced,
        renamed and deleted. A card put back (or another one) is scanned again first.

        Returns:
            Left-over partials found by that new scan (usually none).

        Raises:
            OSError: the card is missing, read-only or failing.
        """
        self.card.check_mounted()
        partials: list[str] = []
        if not self.card.is_same():
            log.warning("the card's folder changed: scanning it again")
            partials = self.scan()
        self.card.check_writable()
        return partials

    def _allocate(self) -> tuple[int, str, str]:
        """Take the next sequence number (persisted before it is used) and the names' time."""
        if not self._scanned:
            raise RuntimeError("Library.scan() must run before anything is created")
        seq = self.card.allocate()
        stamp, day = stamp_and_day(self._clock.wall())
        return seq, stamp, day

    # ----------------------------------------------------------------- segments

    def begin_segment(self) -> SegmentPlan:
        """Allocate a sequence number for a new loop segment in today's LOOP folder."""
        seq, stamp, day = self._allocate()
        name = f"{seq:08d}_{stamp}{VIDEO_EXT}"
        folder = os.path.join(self.card.loop_dir, day)
        final = os.path.join(folder, name)
        plan = SegmentPlan(seq, final + PARTIAL_SUFFIX, final)
        with self._lock:
            self.card.mkdir_day(folder)
            self._open[seq] = plan.partial_path
            self._incidents.segment_begun(seq)
        return plan

    def abandon_segment(self, plan: SegmentPlan) -> None:
        """Forget a segment whose file could not be created (the card failed)."""
        with self._lock:
            if self._open.get(plan.seq) == plan.partial_path:
                del self._open[plan.seq]
            self._incidents.forget(plan.seq)
        unlink(plan.partial_path)

    def finish_segment(self, plan: SegmentPlan, duration_s: float | None) -> Item:
        """Rename a closed segment to its final name and index it.

        A segment marked by :meth:`protect_incident` goes straight into PROTECTED.

        Raises:
            ValueError: ``plan`` is not an open segment of this library.
            FileNotFoundError: the partial file does not exist.
        """
        with self._lock:
            if self._open.get(plan.seq) != plan.partial_path:
                raise ValueError(f"segment {plan.seq} is not open")
            item, victims = self._close_locked(
                plan.seq, plan.partial_path, plan.final_path, duration_s
            )
        self._delete_files(victims)
        return item

    def adopt_partial(self, partial_path: str, duration_s: float | None) -> Item | None:
        """Take in a partial left over from a power cut, once the recorder has checked it.

        Args:
            partial_path: A path returned by :meth:`scan`.
            duration_s: Seconds that decode; None means nothing decodes.

        Returns:
            The indexed item, or None when the file was moved to LOST.

        Raises:
            ValueError: the name is not a partial segment name.
        """
        path = os.path.abspath(partial_path)
        seq = partial_segment_seq(path)
        with self._lock:
            self._unrecovered.discard(seq)
        if duration_s is None:
            self._lost.take(path)
            with self._lock:
                self._open.pop(seq, None)
                self._incidents.forget(seq)
                had_thumb = seq in self._thumbs
                self._thumbs.discard(seq)
            if had_thumb:
                unlink(self.card.thumb_path(seq))
            return None
        final = path[: -len(PARTIAL_SUFFIX)]
        with self._lock:
            if seq in self._index.items:
                raise ValueError(f"sequence {seq} is already indexed")
            self._open.setdefault(seq, path)
            self._incidents.adopting(seq)  # marked by a protect before the power cut
            item, victims = self._close_locked(seq, path, final, duration_s)
        self._delete_files(victims)
        return item

    def _close_locked(
        self, seq: int, partial: str, final: str, duration_s: float | None
    ) -> tuple[Item, list[Item]]:
        protect = (
            self._incidents.is_marked(seq) or os.path.dirname(final) == self.card.protected_dir
        )
        name = os.path.basename(final)
        dest = os.path.join(self.card.protected_dir, name) if protect else final
        try:
            self.fs.rename(partial, dest)
            size = os.stat(dest).st_size
        except FileNotFoundError:
            self._open.pop(seq, None)
            self._incidents.forget(seq)
            raise
        self._open.pop(seq, None)
        m = MEDIA_RE.match(name)
        assert m is not None
        stamp = m.group(2)
        kind = Kind.PROTECTED if protect else Kind.LOOP
        thumb = self.card.thumb_path(seq) if seq in self._thumbs else None
        duration = None if duration_s is None else float(duration_s)
        item = Item(seq, kind, dest, size, day_of(stamp), stamp, thumb, duration)
        self._index.add(item)
        victims: list[Item] = []
        if protect:
            shield = self._incidents.shield() | {seq}
            self._incidents.closed(seq)
            victims = self._enforce_quota_locked(shield)
        return item, victims

    # ----------------------------------------------------------------- photos, thumbnails

    def add_photo(self, jpeg: bytes) -> Item:
        """Store a photo (fsynced) and its thumbnail, and index both.

        Raises:
            ValueError: ``jpeg`` is not a readable image.
            StorageFull: the card has no room.
        """
        thumb_bytes = make_thumbnail(jpeg)
        seq, stamp, day = self._allocate()
        folder = os.path.join(self.card.photo_dir, day)
        final = os.path.join(folder, f"{seq:08d}_{stamp}{PHOTO_EXT}")
        partial = final + PARTIAL_SUFFIX
        thumb = self.card.thumb_path(seq)
        with self._lock:
            self.card.mkdir_day(folder)
            self._open[seq] = partial
        try:
            self.card.write_photo(partial, final, jpeg, thumb, thumb_bytes)
        except OSError:
            with self._lock:
                self._open.pop(seq, None)
            raise
        item = Item(seq, Kind.PHOTO, final, len(jpeg), day, stamp, thumb)
        with self._lock:
            self._open.pop(seq, None)
            self._thumbs.add(seq)
            self._index.add(item)
        return item

    def set_thumbnail(self, seq: int, jpeg: bytes) -> None:
        """Store the thumbnail of a clip (open or closed) as given.

        Raises:
            NotFound: no item or open segment has this sequence number.
        """
        with self._lock:
            if seq not in self._index.items and seq not in self._open:
                raise NotFound(f"no item {seq:08d}")
        path = self.card.thumb_path(seq)
        try:
            write_atomic(self.fs, path, jpeg)
        except OSError as exc:
            raise storage_error(exc) from exc
        with self._lock:
            self._thumbs.add(seq)
            item = self._index.items.get(seq)
            if item is not None:
                self._index.replace(dataclasses.replace(item, thumb=path))
            elif seq not in self._open:  # deleted meanwhile
                self._thumbs.discard(seq)
                unlink(path)

    def place_sidecar(self, seq: int, ext: str, data: bytes) -> str | None:
        """Write clip ``seq``'s sidecar ``ext`` beside it (synced, atomic).

        Nothing here holds the library's lock while the card works (a slow card never
        delays a rollover): the bytes are synced under a temporary name, renamed beside the
        clip, and then, under the lock, checked to lie beside it still (a protect may have
        moved the clip meanwhile: the sidecar follows it).

        Returns:
            Its path, or None when the clip is gone (nothing is left behind).

        Raises:
            OSError: the card failed (nothing is left behind).
        """
        if ext not in SIDECAR_EXTS:
            raise ValueError(f"not a sidecar: {ext}")
        try:
            item = self.get(seq)
        except NotFound:
            return None
        src = item.sidecar(ext) + ".tmp"
        unlink(src)
        try:
            write_file(self.fs, src, data)
            for _ in range(8):  # a clip moved again and again: give up after a few
                try:
                    item = self.get(seq)
                except NotFound:
                    unlink(src)
                    return None
                dest = item.sidecar(ext)
                if dest != src:
                    try:
                        self.fs.rename(src, dest)
                    except FileNotFoundError:
                        if not os.path.exists(dest):
                            raise
                        # The protect that moved the clip moved its sidecar too.
                with self._lock:
                    now = self._index.items.get(seq)
                    settled = now is not None and now.sidecar(ext) == dest
                    gone = now is None
                if gone:
                    unlink(dest)
                    return None
                if settled:
                    fsync_dir(os.path.dirname(dest))
                    return dest
                src = dest
        except BaseException:
            unlink(src)
            raise
        log.warning("clip %08d keeps moving: its %s is left where it is", seq, ext)
        return src

    def track_paths(self, item: Item) -> tuple[str, str]:
        """Where clip ``item``'s GPS track lies beside it: its GPX and its SRT."""
        return item.sidecar(".gpx"), item.sidecar(".srt")

    def unrecovered(self) -> set[int]:
        """Sequence numbers of the partials the last scan found, not yet adopted."""
        with self._lock:
            return set(self._unrecovered)

    def set_duration(self, seq: int, duration_s: float) -> None:
        """Note a clip's length (probed after the scan). Unknown items are ignored."""
        with self._lock:
            item = self._index.items.get(seq)
            if item is not None and item.is_video:
                self._index.replace(dataclasses.replace(item, duration_s=float(duration_s)))

    def clips_lacking_info(self) -> list[Item]:
        """Clips without a known duration or without a thumbnail, newest first."""
        with self._lock:
            return self._index.clips_lacking_info(self._thumbs)

    # ----------------------------------------------------------------- reading

    def get(self, seq: int) -> Item:
        """The item with this sequence number.

        Raises:
            NotFound: no such item.
        """
        with self._lock:
            try:
                return self._index.items[seq]
            except KeyError:
                raise NotFound(f"no item {seq:08d}") from None

    def page(
        self,
        *,
        kinds: Iterable[Kind] | None = None,
        day: str | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> list[Item]:
        """Items newest first (by seq), filtered by kind and day.

        Args:
            kinds: Kinds to include; all if None.
            day: Only items of this "YYYY-MM-DD" day.
            before: Cursor: only items with seq < before (the last seq of the previous page).
            limit: At most this many items.
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        wanted = ALL_KINDS if kinds is None else frozenset(Kind(k) for k in kinds)
        with self._lock:
            return self._index.page(wanted, day, before, limit)

    def days(self) -> list[str]:
        """Days that have items, the day of the newest item (by seq) first."""
        with self._lock:
            return self._index.days()

    def counts(self) -> dict[Kind, int]:
        """Number of items of each kind."""
        with self._lock:
            return {kind: len(seqs) for kind, seqs in self._index.by_kind.items()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._index.items)

    def reserve_bytes(self, total_bytes: int) -> int:
        """Bytes the pruner keeps free on a card of ``total_bytes``."""
        return reserve_bytes(total_bytes, self.min_free_bytes, self.min_free_percent)

    def storage(self) -> StorageFigures:
        """Card totals (one disk usage call) and the bytes held by each kind."""
        usage = self._disk_usage(self.root)
        with self._lock:
            self._total_bytes = usage.total
            b = self._index.bytes
            return StorageFigures(
                total=usage.total,
                free=usage.free,
                loop=b[Kind.LOOP],
                protected=b[Kind.PROTECTED],
                photos=b[Kind.PHOTO],
                reserve=self.reserve_bytes(usage.total),
            )

    # ----------------------------------------------------------------- changes

    def delete(self, seq: int) -> None:
        """Delete an item's file and thumbnail.

        Raises:
            ValueError: ``seq`` is being written.
            NotFound: no such item.
        """
        with self._lock:
            if seq in self._open:
                raise ValueError(f"item {seq:08d} is being written")
            if seq not in self._index.items:
                raise NotFound(f"no item {seq:08d}")
            victims = [self._remove_locked(seq)]
        self._delete_files(victims)
        self._changed()

    def protect(self, seq: int) -> Item:
        """Move a loop clip into PROTECTED, then enforce the protected quota.

        Raises:
            NotFound: no such item.
            ValueError: the item is a photo.
        """
        with self._lock:
            item = self._protect_locked(seq)
            victims = self._enforce_quota_locked(self._incidents.shield() | {seq})
        self._delete_files(victims)
        self._changed()
        return item

    def unprotect(self, seq: int) -> Item:
        """Move a protected clip back into the loop (its day folder).

        Raises:
            NotFound: no such item.
            ValueError: the item is a photo.
        """
        with self._lock:
            item = self._get_locked(seq)
            if item.kind is Kind.LOOP:
                return item
            if item.kind is Kind.PHOTO:
                raise ValueError(f"item {seq:08d} is a photo")
            folder = os.path.join(self.card.loop_dir, item.day)
            self.card.mkdir_day(folder)
            item = self._move_locked(item, Kind.LOOP, os.path.join(folder, item.name))
        self._changed()
        return item

    def protect_incident(
        self,
        open_seq: int | None,
        kind: IncidentKind = IncidentKind.MANUAL,
        peak_g: float | None = None,
        position: tuple[float, float] | None = None,
    ) -> list[Item]:
        """Protect the clips around an incident (the protect button) and record it.

        :func:`appliance.incident.select_clips` decides the clips: the newest closed clip
        before ``open_seq`` is protected now, the open segment and the next one close
        into PROTECTED. ``open_seq`` may also be a segment that has just closed; with no
        recording (``open_seq`` None) the newest clip is protected if still a loop clip.

        Returns:
            The items protected now (already protected ones are not repeated).
        """
        protected: list[Item] = []
        with self._lock:
            open_segments = [
                s for s, p in self._open.items() if p.endswith(VIDEO_EXT + PARTIAL_SUFFIX)
            ]
            if open_seq is not None and open_seq in self._open:
                open_segments.append(open_seq)
            selection = select_clips(open_seq, open_segments, self._index.newest_clip_before)
            for seq in selection.now:
                item = self._index.items.get(seq)
                if item is not None and item.kind is Kind.LOOP:
                    protected.append(self._protect_locked(seq))
            incident = self._incidents.begin(kind, self._clock.wall(), selection, peak_g, position)
            victims = self._enforce_quota_locked(self._incidents.shield())
            self._incidents.end_moment()
        self._delete_files(victims)
        log.info("incident %s protects %s now", incident and incident.id, [i.id for i in protected])
        return protected

    def protect_clips(
        self,
        seqs: Iterable[int],
        kind: IncidentKind,
        position: tuple[float, float] | None = None,
    ) -> Incident | None:
        """Protect exactly ``seqs`` as one incident (a parking clip's segments): closed loop
        clips now, open segments marked (they close into PROTECTED). Clips no longer on
        the card are left out.

        Returns:
            The incident, or None if none of ``seqs`` is left.
        """
        with self._lock:
            wanted = set(seqs)
            marked = tuple(sorted(s for s in wanted if s in self._open))
            now = tuple(sorted(s for s in wanted - set(marked) if s in self._index.items))
            for seq in now:
                if self._index.items[seq].kind is Kind.LOOP:
                    self._protect_locked(seq)
            clips = tuple(sorted({*now, *marked}))
            selection = Selection(now=now, marked=marked, next_segment=False, clips=clips)
            incident = self._incidents.begin(kind, self._clock.wall(), selection, None, position)
            victims = self._enforce_quota_locked(self._incidents.shield())
            self._incidents.end_moment()
        self._delete_files(victims)
        log.info("incident %s (%s) protects %s", incident and incident.id, kind, clips)
        return incident

    def incidents(self) -> list[Incident]:
        """Every incident recorded on this card, newest first (kept across restarts)."""
        with self._lock:
            return self._incidents.incidents()

    def incident_progress(self, ident: int) -> tuple[tuple[int, ...], bool] | None:
        """What an incident in progress still waits for
        (:meth:`appliance.incident.Incidents.progress`); None when complete."""
        with self._lock:
            return self._incidents.progress(ident)

    def recording_stopped(self) -> None:
        """Recording has stopped: no incident waits for a next segment any more."""
        with self._lock:
            self._incidents.recording_stopped(self._open.keys())

    def prune(self, *, writing: int | None = None, headroom_bytes: int = 0) -> PruneResult:
        """Delete the oldest loop clips until the reserve holds and the loop quota is met.

        Never touches ``writing``, open segments, protected clips or photos. Free space is
        read once; each deletion adds the clip's size to the expected free space.

        Args:
            writing: A sequence number never to delete: the segment being written, or the
                newest closed one (the newest footage is always kept).
            headroom_bytes: Room wanted on top of the reserve (and under the loop quota)
                for the segment about to be written, so that writing it keeps the reserve.
        """
        usage: DiskUsage = self._disk_usage(self.root)
        headroom_bytes = max(0, headroom_bytes)
        reserve = self.reserve_bytes(usage.total) + headroom_bytes
        quota = self.loop_quota_bytes
        quota = None if quota is None else max(0, quota - headroom_bytes)
        with self._lock:
            self._total_bytes = usage.total
            keep = {writing, *self._open}
            choice = choose_loop_victims(
                self._index,
                free_bytes=usage.free,
                reserve_bytes=reserve,
                quota_bytes=quota,
                keep=keep,
                prefer=self.uploaded,
            )
            victims = [self._remove_locked(seq) for seq in choice.seqs]
        self._delete_files(victims)
        freed = sum(it.size for it in victims)
        if victims:
            log.info("pruned %d loop clips, %d bytes", len(victims), freed)
            self._changed()
        if not choice.ok:
            log.warning(
                "storage: reserve of %d bytes cannot be met (free %d)", reserve, choice.free_after
            )
        return PruneResult(choice.seqs, freed, choice.ok)

    # ----------------------------------------------------------------- helpers (lock held)

    def _get_locked(self, seq: int) -> Item:
        try:
            return self._index.items[seq]
        except KeyError:
            raise NotFound(f"no item {seq:08d}") from None

    def _protect_locked(self, seq: int) -> Item:
        item = self._get_locked(seq)
        if item.kind is Kind.PROTECTED:
            return item
        if item.kind is Kind.PHOTO:
            raise ValueError(f"item {seq:08d} is a photo")
        return self._move_locked(
            item, Kind.PROTECTED, os.path.join(self.card.protected_dir, item.name)
        )

    def _move_locked(self, item: Item, kind: Kind, dest: str) -> Item:
        try:
            self.fs.rename(item.path, dest)
        except FileNotFoundError:
            self._remove_locked(item.seq)
            raise NotFound(f"item {item.id} is gone from the card") from None
        self._index.remove(item.seq)
        moved = dataclasses.replace(item, kind=kind, path=dest)
        for ext in SIDECAR_EXTS if item.is_video else ():
            try:  # its sidecars go with it (a rename: nothing is copied)
                self.fs.rename(item.sidecar(ext), moved.sidecar(ext))
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("%s: its %s stays behind: %s", item.name, ext, exc)
        self._index.add(moved)
        return moved

    def _remove_locked(self, seq: int) -> Item:
        item = self._index.remove(seq)
        self._thumbs.discard(seq)
        return item

    def _enforce_quota_locked(self, shield: set[int]) -> list[Item]:
        total = self._total_bytes
        if total is None:
            return []
        limit = int(total * self.protected_quota_percent / 100.0)
        chosen = choose_protected_victims(self._index, limit, shield)
        if chosen:
            log.warning("protected quota: deleted %d oldest protected clips", len(chosen))
        return [self._remove_locked(seq) for seq in chosen]

    def _delete_files(self, victims: list[Item]) -> None:
        """Delete the files of items already out of the index (now, outside the lock),
        then their day folders if empty."""
        folders = self.card.delete_files(victims)
        if folders:
            with self._lock:  # a folder with a file being written in it stays
                busy = {os.path.dirname(p) for p in self._open.values()}
                self.card.remove_folders(folders - busy)
