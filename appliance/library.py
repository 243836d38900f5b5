"""The media library: card layout, in-memory index, paging, pruning and protection.

Everything on the card is ordered by one monotonic sequence number that survives reboots,
never by mtime or wall clock (a Pi has no real-time clock and may boot in 1970). The
layout under the storage root::

    DCIM/LOOP/<YYYY-MM-DD>/<seq:08d>_<YYYYMMDD-HHMMSS>.mp4   loop clips (".partial" while open)
    DCIM/PROTECTED/<seq:08d>_<YYYYMMDD-HHMMSS>.mp4           protected clips, never pruned
    DCIM/PHOTO/<YYYY-MM-DD>/<seq:08d>_<YYYYMMDD-HHMMSS>.jpg  photos, never pruned
    DCIM/THUMB/<seq:08d>.jpg                                 one thumbnail per clip or photo
    DCIM/LOST/                                               partials that did not decode
    DCIM/SEQUENCE                                            the next sequence number
    DCIM/PROTECTING                                          open segments to be protected

The card is read once by :meth:`Library.scan`; after that every change goes through the
library, which keeps its index current and never rescans.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import enum
import errno
import io
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from appliance.errors import NotFound, StorageFull
from appliance.ports import Clock, DiskUsage, DiskUsageFn, FileSystem, real_disk_usage

log = logging.getLogger(__name__)

DCIM = "DCIM"
LOOP_DIR = "LOOP"
PROTECTED_DIR = "PROTECTED"
PHOTO_DIR = "PHOTO"
THUMB_DIR = "THUMB"
LOST_DIR = "LOST"
SEQUENCE_FILE = "SEQUENCE"
#: Sequence numbers of open segments that the protect button marked: a power cut before
#: they close must not lose the protection (the partial is adopted into PROTECTED).
PROTECTING_FILE = "PROTECTING"
PARTIAL_SUFFIX = ".partial"
VIDEO_EXT = ".mp4"
PHOTO_EXT = ".jpg"
THUMB_WIDTH_PX = 320

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MEDIA_RE = re.compile(r"^(\d{8,})_(\d{8}-\d{6})\.(mp4|jpg)(\.partial)?$")
_THUMB_RE = re.compile(r"^(\d{8,})\.jpg$")
_LOST_RE = re.compile(r"^(\d{8,})_")

#: LOST keeps at most this many files ...
LOST_MAX_FILES = 20
#: ... and at most this many bytes; the oldest (lowest sequence number) go first.
LOST_MAX_BYTES = 64 * 1024 * 1024
#: Name of the small file :meth:`Library.check_storage` writes, syncs and deletes.
PROBE_NAME = ".probe"


class Kind(enum.StrEnum):
    """What an item is; a loop clip may become protected and back."""

    LOOP = "loop"
    PROTECTED = "protected"
    PHOTO = "photo"


ALL_KINDS = frozenset(Kind)


@dataclass(frozen=True, slots=True)
class Item:
    """One clip or photo in the index.

    Attributes:
        seq: The sequence number; the only ordering key.
        kind: Loop clip, protected clip or photo.
        path: Absolute path of the file.
        size: File size in bytes.
        day: "YYYY-MM-DD" from the wall clock at creation (for people and the day filter).
        stamp: "YYYYMMDD-HHMMSS" from the wall clock at creation.
        thumb: Absolute path of the thumbnail, or None.
        duration_s: Clip length in seconds when known, else None (clips found at start are
            probed after recording has begun).
    """

    seq: int
    kind: Kind
    path: str
    size: int
    day: str
    stamp: str
    thumb: str | None = None
    duration_s: float | None = None

    @property
    def id(self) -> str:
        """The sequence number as the 8-digit string used in names and URLs."""
        return f"{self.seq:08d}"

    @property
    def name(self) -> str:
        """The file name."""
        return os.path.basename(self.path)

    @property
    def is_video(self) -> bool:
        """True for loop and protected clips."""
        return self.kind is not Kind.PHOTO


@dataclass(frozen=True, slots=True)
class StorageFigures:
    """Card figures in bytes; ``reserve`` is what the pruner keeps free."""

    total: int
    free: int
    loop: int
    protected: int
    photos: int
    reserve: int


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """Where the recorder writes a segment: ``partial_path`` now, then ``finish_segment``."""

    seq: int
    partial_path: str
    final_path: str


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune did.

    Attributes:
        deleted: Sequence numbers of the loop clips deleted, oldest first.
        freed_bytes: Bytes of the clip files deleted (thumbnails not counted).
        ok: False when the reserve (plus any headroom asked for) still does not hold and no
            loop clip is left to delete.
    """

    deleted: list[int]
    freed_bytes: int
    ok: bool


def make_thumbnail(jpeg: bytes, width_px: int = THUMB_WIDTH_PX) -> bytes:
    """Return a JPEG about ``width_px`` wide made from ``jpeg`` (decoded in draft mode).

    Raises:
        ValueError: ``jpeg`` is not an image Pillow can read.
    """
    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            width, height = img.size
            if width <= 0 or height <= 0:
                raise ValueError("image has no pixels")
            target = (width_px, max(1, round(height * width_px / width)))
            img.draft("RGB", target)
            small = img.convert("RGB")
            small.thumbnail(target)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable JPEG: {exc}") from exc


def _stamp_and_day(wall_s: float) -> tuple[str, str]:
    """The ("YYYYMMDD-HHMMSS", "YYYY-MM-DD") of a wall-clock time, in local time."""
    try:
        tm = time.localtime(wall_s)
    except (OverflowError, OSError, ValueError):
        tm = time.localtime(0)
    return time.strftime("%Y%m%d-%H%M%S", tm), time.strftime("%Y-%m-%d", tm)


def _day_of(stamp: str) -> str:
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(fs: FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (never through a symlink) and sync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with open(fd, "wb") as f:
        f.write(data)
        f.flush()
        fs.sync(f.fileno())


def _write_atomic(fs: FileSystem, path: str, data: bytes, tmp_suffix: str = ".tmp") -> None:
    """Write to a temporary name, sync, then rename over ``path``."""
    tmp = path + tmp_suffix
    _unlink(tmp)  # a stale one, or a symlink planted there: never written through
    try:
        _write_file(fs, tmp, data)
        fs.rename(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _read_small_file(path: str, limit_bytes: int = 64 * 1024) -> str:
    """The ASCII text of one of the library's own small files (SEQUENCE, PROTECTING).

    Never follows a symlink and never blocks on a FIFO planted in its place.

    Raises:
        FileNotFoundError: there is no such file.
        OSError: it is not a regular file, or it cannot be read.
        ValueError: it is larger than ``limit_bytes`` or not ASCII.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        data = os.read(fd, limit_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > limit_bytes:
        raise ValueError(f"larger than {limit_bytes} bytes")
    return data.decode("ascii")


def _unlink(path: str | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not delete %s: %s", path, exc)


def _storage_error(exc: OSError) -> OSError:
    if exc.errno == errno.ENOSPC:
        return StorageFull(errno.ENOSPC, "the card is full")
    return exc


class _Index:
    """Items by seq, sorted seq lists per kind and per (day, kind), byte totals per kind."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.by_kind: dict[Kind, list[int]] = {kind: [] for kind in Kind}
        self.by_day: dict[tuple[str, Kind], list[int]] = {}
        self.bytes: dict[Kind, int] = {kind: 0 for kind in Kind}

    def add(self, item: Item) -> None:
        self.items[item.seq] = item
        _insert(self.by_kind[item.kind], item.seq)
        _insert(self.by_day.setdefault((item.day, item.kind), []), item.seq)
        self.bytes[item.kind] += item.size

    def remove(self, seq: int) -> Item:
        item = self.items.pop(seq)
        _remove(self.by_kind[item.kind], seq)
        key = (item.day, item.kind)
        day_list = self.by_day[key]
        _remove(day_list, seq)
        if not day_list:
            del self.by_day[key]
        self.bytes[item.kind] -= item.size
        return item

    def replace(self, item: Item) -> None:
        """Swap in a changed item with the same seq, kind, day and size."""
        self.items[item.seq] = item


def _insert(seqs: list[int], seq: int) -> None:
    if not seqs or seqs[-1] < seq:
        seqs.append(seq)  # the common case: a new seq is the highest
    else:
        bisect.insort(seqs, seq)


def _remove(seqs: list[int], seq: int) -> None:
    i = bisect.bisect_left(seqs, seq)
    if i < len(seqs) and seqs[i] == seq:
        del seqs[i]


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
    ) -> None:
        if min_free_bytes < 0:
            raise ValueError("min_free_bytes must be >= 0")
        if not 0.0 <= min_free_percent < 100.0:
            raise ValueError("min_free_percent must be in [0, 100)")
        if loop_quota_bytes is not None and loop_quota_bytes < 0:
            raise ValueError("loop_quota_bytes must be >= 0 or None")
        if not 0.0 < protected_quota_percent <= 100.0:
            raise ValueError("protected_quota_percent must be in (0, 100]")
        self.root = os.path.abspath(os.fspath(root))
        self.min_free_bytes = int(min_free_bytes)
        self.min_free_percent = float(min_free_percent)
        self.loop_quota_bytes = loop_quota_bytes
        self.protected_quota_percent = float(protected_quota_percent)
        self._clock = clock if clock is not None else Clock()
        self._disk_usage = disk_usage
        self.fs = fs if fs is not None else FileSystem()

        dcim = os.path.join(self.root, DCIM)
        self.dcim_dir = dcim
        self.loop_dir = os.path.join(dcim, LOOP_DIR)
        self.protected_dir = os.path.join(dcim, PROTECTED_DIR)
        self.photo_dir = os.path.join(dcim, PHOTO_DIR)
        self.thumb_dir = os.path.join(dcim, THUMB_DIR)
        self.lost_dir = os.path.join(dcim, LOST_DIR)
        self.sequence_path = os.path.join(dcim, SEQUENCE_FILE)
        self.protecting_path = os.path.join(dcim, PROTECTING_FILE)

        self._lock = threading.Lock()  # the index and every field below
        self._seq_lock = threading.Lock()  # allocation and the SEQUENCE file
        self._index = _Index()
        self._thumbs: set[int] = set()
        self._open: dict[int, str] = {}  # seq -> partial path of segments/photos being written
        self._pending: set[int] = set()  # open segments that go to PROTECTED when finished
        self._protect_next = False
        self._incident: set[int] = set()  # seqs of the incident still in progress
        self._written_pending: frozenset[int] = frozenset()  # what PROTECTING holds
        self._recovered_pending: set[int] = set()  # partials found marked in PROTECTING
        self._total_bytes: int | None = None
        self._next_seq = 0
        self._scanned = False
        self._card: tuple[int, int] | None = None  # (st_dev, st_ino) of DCIM at the scan
        self._root_mounted = False  # the root was a mount point at the first scan

    # ----------------------------------------------------------------- scanning

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
        if self._scanned:
            self._check_mounted()
        else:
            os.makedirs(self.root, exist_ok=True)
            self._root_mounted = os.path.ismount(self.root)
        for path in (
            self.dcim_dir,
            self.loop_dir,
            self.protected_dir,
            self.photo_dir,
            self.thumb_dir,
            self.lost_dir,
        ):
            if os.path.islink(path):
                raise OSError(errno.ELOOP, "a layout folder is a symlink; refusing it", path)
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(path)
        card_stat = os.stat(self.dcim_dir, follow_symlinks=False)

        thumbs: set[int] = set()
        found: list[tuple[int, Kind, str, int, str]] = []  # seq, kind, path, size, stamp
        partials: list[tuple[int, str]] = []
        max_seq = -1

        with os.scandir(self.thumb_dir) as entries:
            for entry in entries:
                m = _THUMB_RE.match(entry.name)
                if entry.is_symlink():
                    log.warning("ignoring a symlink in THUMB: %s", entry.name)
                elif not entry.is_file(follow_symlinks=False):
                    log.warning("ignoring a non-file in THUMB: %s", entry.name)
                elif m:
                    thumbs.add(int(m.group(1)))
                elif entry.name.endswith(".tmp"):
                    _unlink(entry.path)
                else:
                    log.warning("ignoring unexpected file in THUMB: %s", entry.name)

        def take(folder: str, kind: Kind, ext: str) -> None:
            nonlocal max_seq
            match = _MEDIA_RE.match
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        log.warning("ignoring a symlink: %s", entry.path)
                        continue
                    if not entry.is_file(follow_symlinks=False):  # a FIFO would hang a reader
                        log.warning("ignoring something that is not a file: %s", entry.path)
                        continue
                    m = match(entry.name)
                    if m is None or m.group(3) != ext:
                        log.warning("ignoring file with an unexpected name: %s", entry.path)
                        continue
                    seq = int(m.group(1))
                    if seq > max_seq:
                        max_seq = seq
                    if m.group(4):
                        if kind is Kind.PHOTO:
                            self._move_to_lost(entry.path)
                        else:
                            partials.append((seq, entry.path))
                        continue
                    size = entry.stat(follow_symlinks=False).st_size
                    found.append((seq, kind, entry.path, size, m.group(2)))

        def walk_days(top: str, kind: Kind, ext: str) -> None:
            with os.scandir(top) as days:
                for day in days:
                    if day.is_symlink():
                        log.warning("ignoring a symlink: %s", day.path)
                    elif day.is_dir(follow_symlinks=False) and _DAY_RE.match(day.name):
                        take(day.path, kind, ext)
                    else:
                        log.warning("ignoring unexpected entry: %s", day.path)

        walk_days(self.loop_dir, Kind.LOOP, "mp4")
        take(self.protected_dir, Kind.PROTECTED, "mp4")
        walk_days(self.photo_dir, Kind.PHOTO, "jpg")
        with os.scandir(self.lost_dir) as entries:
            for entry in entries:  # numbers of lost files are never used again either
                m = _LOST_RE.match(entry.name)
                if entry.is_symlink():
                    log.warning("ignoring a symlink in LOST: %s", entry.name)
                elif m:
                    max_seq = max(max_seq, int(m.group(1)))

        # Sorted by seq, every index list is built by appending.
        found.sort(key=lambda row: row[0])
        index = _Index()
        days: dict[str, str] = {}
        thumb_prefix = self.thumb_dir + os.sep
        last = -1
        for seq, kind, path, size, stamp in found:
            if seq == last:
                log.warning("ignoring %s: sequence %d already indexed", path, seq)
                continue
            last = seq
            day = days.get(stamp[:8])
            if day is None:
                day = days[stamp[:8]] = _day_of(stamp)
            thumb = f"{thumb_prefix}{seq:08d}.jpg" if seq in thumbs else None
            index.add(Item(seq, kind, path, size, day, stamp, thumb))

        persisted = self._read_sequence()
        on_card = frozenset(self._read_protecting())
        marked = on_card & {seq for seq, _ in partials}
        usage = self._disk_usage(self.root)
        with self._seq_lock:
            # Numbers start at 1 and never go back, not even for a different card.
            next_seq = max(persisted, max_seq + 1, self._next_seq, 1)
            self._write_sequence(next_seq)
            with self._lock:
                self._index = index
                self._thumbs = thumbs
                self._next_seq = next_seq
                self._total_bytes = usage.total
                self._open = {s: p for s, p in self._open.items() if os.path.exists(p)}
                self._pending &= self._open.keys()
                self._recovered_pending = set(marked)
                self._written_pending = on_card
                self._card = (card_stat.st_dev, card_stat.st_ino)
                self._scanned = True
        self._trim_lost()
        log.info(
            "library: %d items, %d left-over partials, next sequence %d",
            len(index.items),
            len(partials),
            next_seq,
        )
        partials.sort()
        return [path for _, path in partials]

    def _move_to_lost(self, path: str) -> str:
        dest = os.path.join(self.lost_dir, os.path.basename(path))
        self.fs.rename(path, dest)
        log.warning("moved unrecoverable %s to LOST", path)
        self._trim_lost()
        return dest

    def _trim_lost(self) -> None:
        """Keep LOST within :data:`LOST_MAX_FILES` and :data:`LOST_MAX_BYTES`, oldest out."""
        files: list[tuple[int, str, str, int]] = []  # seq, name, path, size
        try:
            with os.scandir(self.lost_dir) as entries:
                for entry in entries:
                    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                        continue
                    m = _LOST_RE.match(entry.name)
                    seq = int(m.group(1)) if m else -1
                    size = entry.stat(follow_symlinks=False).st_size
                    files.append((seq, entry.name, entry.path, size))
        except OSError as exc:
            log.warning("could not list LOST: %s", exc)
            return
        files.sort()
        total = sum(f[3] for f in files)
        while files and (len(files) > LOST_MAX_FILES or total > LOST_MAX_BYTES):
            _seq, name, path, size = files.pop(0)
            _unlink(path)
            total -= size
            log.info("LOST is over its cap: deleted %s", name)

    # ----------------------------------------------------------------- card health

    def _check_mounted(self) -> None:
        if not os.path.isdir(self.root):
            raise FileNotFoundError(errno.ENOENT, "the storage folder is gone", self.root)
        if self._root_mounted and not os.path.ismount(self.root):
            raise OSError(errno.ENODEV, "the card is not mounted", self.root)

    def check_card(self) -> None:
        """Quick check, for every second: the card is there, mounted, the same folder, and
        its file system answers. Writes nothing.

        Raises:
            OSError: the card is missing, unmounted or swapped.
        """
        if not self._scanned:
            return
        self._check_mounted()
        st = os.stat(self.dcim_dir, follow_symlinks=False)
        if self._card != (st.st_dev, st.st_ino):
            raise OSError(errno.ENODEV, "the card's folder changed", self.dcim_dir)
        self._disk_usage(self.root)

    def check_storage(self) -> list[str]:
        """Check the card can be written: same card folder, a small file written, synced,
        renamed and deleted. A card put back (or another one) is scanned again first.

        Returns:
            Left-over partials found by that new scan (usually none).

        Raises:
            OSError: the card is missing, read-only or failing.
        """
        self._check_mounted()
        try:
            st = os.stat(self.dcim_dir, follow_symlinks=False)
            same = self._card == (st.st_dev, st.st_ino)
        except FileNotFoundError:
            same = False
        partials: list[str] = []
        if not same:
            log.warning("the card's folder changed: scanning it again")
            partials = self.scan()
        probe = os.path.join(self.dcim_dir, PROBE_NAME)
        try:
            _write_atomic(self.fs, probe, b"dashcam\n")  # write, sync, rename
        finally:
            _unlink(probe)
        self._disk_usage(self.root)
        return partials

    # ----------------------------------------------------------------- sequence

    def _read_sequence(self) -> int:
        try:
            return max(0, int(_read_small_file(self.sequence_path).strip()))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s); using the card's highest number", SEQUENCE_FILE, exc)
            return 0

    def _read_protecting(self) -> set[int]:
        try:
            return {int(line) for line in _read_small_file(self.protecting_path).split()}
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            log.warning("unreadable %s (%s); no partial is protected from it", PROTECTING_FILE, exc)
            return set()

    def _persist_pending_locked(self) -> None:
        """Write the open segments marked for protection to the card, if they changed.

        A failing card is logged, not raised: the protection still applies in memory.
        """
        wanted = frozenset(self._pending)
        if wanted == self._written_pending:
            return
        text = "".join(f"{seq}\n" for seq in sorted(wanted))
        try:
            _write_atomic(self.fs, self.protecting_path, text.encode("ascii"))
            _fsync_dir(self.dcim_dir)
        except OSError as exc:
            log.warning("cannot write %s: %s", PROTECTING_FILE, exc)
            return
        self._written_pending = wanted

    def _write_sequence(self, next_seq: int) -> None:
        _write_atomic(self.fs, self.sequence_path, f"{next_seq}\n".encode("ascii"))
        _fsync_dir(self.dcim_dir)

    def _allocate(self) -> tuple[int, str, str]:
        """Take the next sequence number (persisted before it is used) and the names' time."""
        if not self._scanned:
            raise RuntimeError("Library.scan() must run before anything is created")
        with self._seq_lock:
            seq = self._next_seq
            try:
                self._write_sequence(seq + 1)
            except OSError as exc:
                raise _storage_error(exc) from exc
            self._next_seq = seq + 1
        stamp, day = _stamp_and_day(self._clock.wall())
        return seq, stamp, day

    @property
    def next_seq(self) -> int:
        """The sequence number the next clip or photo will get."""
        with self._seq_lock:
            return self._next_seq

    # ----------------------------------------------------------------- segments

    def begin_segment(self) -> SegmentPlan:
        """Allocate a sequence number for a new loop segment in today's LOOP folder."""
        seq, stamp, day = self._allocate()
        name = f"{seq:08d}_{stamp}{VIDEO_EXT}"
        folder = os.path.join(self.loop_dir, day)
        final = os.path.join(folder, name)
        plan = SegmentPlan(seq, final + PARTIAL_SUFFIX, final)
        with self._lock:
            self._mkdir_day(folder)
            self._open[seq] = plan.partial_path
            if self._protect_next:
                self._protect_next = False
                self._pending.add(seq)
                self._incident.add(seq)
                self._persist_pending_locked()
        return plan

    def abandon_segment(self, plan: SegmentPlan) -> None:
        """Forget a segment whose file could not be created (the card failed)."""
        with self._lock:
            if self._open.get(plan.seq) == plan.partial_path:
                del self._open[plan.seq]
            self._pending.discard(plan.seq)
        _unlink(plan.partial_path)

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
        self._delete_files_soon(victims)
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
        name = os.path.basename(path)
        m = _MEDIA_RE.match(name)
        if m is None or not m.group(4) or m.group(3) != "mp4":
            raise ValueError(f"not a partial segment: {partial_path}")
        seq = int(m.group(1))
        if duration_s is None:
            self._move_to_lost(path)
            with self._lock:
                self._open.pop(seq, None)
                self._pending.discard(seq)
                had_thumb = seq in self._thumbs
                self._thumbs.discard(seq)
            if had_thumb:
                _unlink(self._thumb_path(seq))
            return None
        final = path[: -len(PARTIAL_SUFFIX)]
        with self._lock:
            if seq in self._index.items:
                raise ValueError(f"sequence {seq} is already indexed")
            self._open.setdefault(seq, path)
            if seq in self._recovered_pending:  # marked by a protect before the power cut
                self._recovered_pending.discard(seq)
                self._pending.add(seq)
            item, victims = self._close_locked(seq, path, final, duration_s)
        self._delete_files_soon(victims)
        return item

    def _close_locked(
        self, seq: int, partial: str, final: str, duration_s: float | None
    ) -> tuple[Item, list[Item]]:
        protect = seq in self._pending or os.path.dirname(final) == self.protected_dir
        name = os.path.basename(final)
        dest = os.path.join(self.protected_dir, name) if protect else final
        try:
            self.fs.rename(partial, dest)
            size = os.stat(dest).st_size
        except FileNotFoundError:
            self._open.pop(seq, None)
            self._pending.discard(seq)
            raise
        self._open.pop(seq, None)
        m = _MEDIA_RE.match(name)
        assert m is not None
        stamp = m.group(2)
        item = Item(
            seq,
            Kind.PROTECTED if protect else Kind.LOOP,
            dest,
            size,
            _day_of(stamp),
            stamp,
            self._thumb_path(seq) if seq in self._thumbs else None,
            None if duration_s is None else float(duration_s),
        )
        self._index.add(item)
        victims: list[Item] = []
        if protect:
            shield = self._incident | self._pending | {seq}
            self._pending.discard(seq)
            self._persist_pending_locked()
            if not self._pending and not self._protect_next:
                self._incident.clear()
            victims = self._enforce_quota_locked(shield)
        return item, victims

    def _mkdir_day(self, folder: str) -> None:
        """Create a day folder; its parent (LOOP, PHOTO) must exist: never the layout.

        A symlink in its place is removed (never followed) and a real folder made.
        """
        if os.path.islink(folder):
            log.warning("replacing a symlink where a day folder goes: %s", folder)
            os.unlink(folder)
        if not os.path.isdir(folder):
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(folder)

    def _thumb_path(self, seq: int) -> str:
        return os.path.join(self.thumb_dir, f"{seq:08d}.jpg")

    # ----------------------------------------------------------------- photos, thumbnails

    def add_photo(self, jpeg: bytes) -> Item:
        """Store a photo (fsynced) and its thumbnail, and index both.

        Raises:
            ValueError: ``jpeg`` is not a readable image.
            StorageFull: the card has no room.
        """
        thumb_bytes = make_thumbnail(jpeg)
        seq, stamp, day = self._allocate()
        folder = os.path.join(self.photo_dir, day)
        final = os.path.join(folder, f"{seq:08d}_{stamp}{PHOTO_EXT}")
        partial = final + PARTIAL_SUFFIX
        thumb = self._thumb_path(seq)
        with self._lock:
            self._mkdir_day(folder)
            self._open[seq] = partial
        try:
            _write_file(self.fs, partial, jpeg)
            self.fs.rename(partial, final)
            _write_atomic(self.fs, thumb, thumb_bytes)
        except OSError as exc:
            _unlink(partial)
            _unlink(final)
            _unlink(thumb)
            with self._lock:
                self._open.pop(seq, None)
            raise _storage_error(exc) from exc
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
        path = self._thumb_path(seq)
        try:
            _write_atomic(self.fs, path, jpeg)
        except OSError as exc:
            raise _storage_error(exc) from exc
        with self._lock:
            self._thumbs.add(seq)
            item = self._index.items.get(seq)
            if item is not None:
                self._index.replace(dataclasses.replace(item, thumb=path))
            elif seq not in self._open:  # deleted meanwhile
                self._thumbs.discard(seq)
                _unlink(path)

    def set_duration(self, seq: int, duration_s: float) -> None:
        """Note a clip's length (probed after the scan). Unknown items are ignored."""
        with self._lock:
            item = self._index.items.get(seq)
            if item is not None and item.is_video:
                self._index.replace(dataclasses.replace(item, duration_s=float(duration_s)))

    def clips_lacking_info(self) -> list[Item]:
        """Clips without a known duration or without a thumbnail, newest first."""
        with self._lock:
            items = self._index.items
            lacking = [
                items[seq]
                for kind in (Kind.LOOP, Kind.PROTECTED)
                for seq in self._index.by_kind[kind]
                if items[seq].duration_s is None or seq not in self._thumbs
            ]
        lacking.sort(key=lambda item: item.seq, reverse=True)
        return lacking

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
            chosen: list[int] = []
            for kind in wanted:
                if day is None:
                    seqs = self._index.by_kind[kind]
                else:
                    seqs = self._index.by_day.get((day, kind), [])
                end = len(seqs) if before is None else bisect.bisect_left(seqs, before)
                chosen.extend(seqs[max(0, end - limit) : end])
            chosen.sort(reverse=True)
            return [self._index.items[s] for s in chosen[:limit]]

    def days(self) -> list[str]:
        """Days that have items, the day of the newest item (by seq) first."""
        with self._lock:
            newest: dict[str, int] = {}
            for (day, _), seqs in self._index.by_day.items():
                if seqs[-1] > newest.get(day, -1):
                    newest[day] = seqs[-1]
        return sorted(newest, key=newest.__getitem__, reverse=True)

    def counts(self) -> dict[Kind, int]:
        """Number of items of each kind."""
        with self._lock:
            return {kind: len(seqs) for kind, seqs in self._index.by_kind.items()}

    def __len__(self) -> int:
        with self._lock:
            return len(self._index.items)

    def reserve_bytes(self, total_bytes: int) -> int:
        """Bytes the pruner keeps free on a card of ``total_bytes``."""
        return max(self.min_free_bytes, int(total_bytes * self.min_free_percent / 100.0))

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
        self._delete_files_soon(victims)

    def protect(self, seq: int) -> Item:
        """Move a loop clip into PROTECTED, then enforce the protected quota.

        Raises:
            NotFound: no such item.
            ValueError: the item is a photo.
        """
        with self._lock:
            item = self._protect_locked(seq)
            victims = self._enforce_quota_locked(self._incident | self._pending | {seq})
        self._delete_files_soon(victims)
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
            folder = os.path.join(self.loop_dir, item.day)
            self._mkdir_day(folder)
            return self._move_locked(item, Kind.LOOP, os.path.join(folder, item.name))

    def protect_incident(self, open_seq: int | None) -> list[Item]:
        """Protect the clips around an incident (the protect button).

        Moves the newest closed clip before ``open_seq`` into PROTECTED now, marks the open
        segment and the next segment so they close into PROTECTED. ``open_seq`` may also be
        a segment that has just closed (the press came between two segments): it is
        protected at once, and a segment already begun after it counts as the next. With
        no recording (``open_seq`` None) it protects the newest clip if that is still a
        loop clip.

        Returns:
            The items protected now (already protected ones are not repeated).
        """
        protected: list[Item] = []
        with self._lock:
            idx = self._index
            if open_seq is None:
                newest = self._newest_clip_before_locked(None)
                if newest is not None:
                    self._incident.add(newest.seq)
                    if newest.kind is Kind.LOOP:
                        protected.append(self._protect_locked(newest.seq))
            else:
                # The previous segment: the newest clip before open_seq, which may still be
                # closing (open) or closed (indexed).
                prev = self._newest_clip_before_locked(open_seq)
                prev_open = max(
                    (
                        s
                        for s, p in self._open.items()
                        if s < open_seq and p.endswith(".mp4.partial")
                    ),
                    default=None,
                )
                if prev_open is not None and (prev is None or prev_open > prev.seq):
                    self._pending.add(prev_open)
                    self._incident.add(prev_open)
                elif prev is not None:
                    self._incident.add(prev.seq)
                    if prev.kind is Kind.LOOP:
                        protected.append(self._protect_locked(prev.seq))
                # The open segment itself: pending, or protect now if already closed.
                if open_seq in self._open:
                    self._pending.add(open_seq)
                elif open_seq in idx.items and idx.items[open_seq].kind is Kind.LOOP:
                    protected.append(self._protect_locked(open_seq))
                self._incident.add(open_seq)
                # The next segment: already begun if the press came as segments switched
                # (the caller saw ``open_seq`` just closed), else the next one to begin.
                newer = [
                    s for s, p in self._open.items() if s > open_seq and p.endswith(".mp4.partial")
                ]
                self._pending.update(newer)
                self._incident.update(newer)
                self._protect_next = not newer
            self._persist_pending_locked()
            shield = self._incident | self._pending | {it.seq for it in protected}
            victims = self._enforce_quota_locked(shield)
            if not self._pending and not self._protect_next:
                self._incident.clear()
        self._delete_files_soon(victims)
        log.info("incident: protected %s now", [it.id for it in protected])
        return protected

    def recording_stopped(self) -> None:
        """Forget a pending "protect the next segment" (recording has stopped)."""
        with self._lock:
            self._protect_next = False
            self._pending &= self._open.keys()
            if not self._pending:
                self._incident.clear()

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
        if quota is not None:
            quota = max(0, quota - headroom_bytes)
        victims: list[Item] = []
        with self._lock:
            self._total_bytes = usage.total
            free = usage.free
            loop_bytes = self._index.bytes[Kind.LOOP]
            loop_seqs = self._index.by_kind[Kind.LOOP]
            i = 0
            while free < reserve or (quota is not None and loop_bytes > quota):
                if i >= len(loop_seqs):
                    break
                seq = loop_seqs[i]
                if seq == writing or seq in self._open:
                    i += 1
                    continue
                item = self._remove_locked(seq)  # removes loop_seqs[i]
                victims.append(item)
                free += item.size
                loop_bytes -= item.size
            ok = free >= reserve
        self._delete_files_soon(victims)
        freed = sum(it.size for it in victims)
        if victims:
            log.info("pruned %d loop clips, %d bytes", len(victims), freed)
        if not ok:
            log.warning("storage: reserve of %d bytes cannot be met (free %d)", reserve, free)
        return PruneResult([it.seq for it in victims], freed, ok)

    # ----------------------------------------------------------------- helpers (lock held)

    def _get_locked(self, seq: int) -> Item:
        try:
            return self._index.items[seq]
        except KeyError:
            raise NotFound(f"no item {seq:08d}") from None

    def _newest_clip_before_locked(self, seq: int | None) -> Item | None:
        """The clip (loop or protected) with the highest seq below ``seq`` (None: any)."""
        best: Item | None = None
        for kind in (Kind.LOOP, Kind.PROTECTED):
            seqs = self._index.by_kind[kind]
            i = len(seqs) if seq is None else bisect.bisect_left(seqs, seq)
            if i > 0 and (best is None or seqs[i - 1] > best.seq):
                best = self._index.items[seqs[i - 1]]
        return best

    def _protect_locked(self, seq: int) -> Item:
        item = self._get_locked(seq)
        if item.kind is Kind.PROTECTED:
            return item
        if item.kind is Kind.PHOTO:
            raise ValueError(f"item {seq:08d} is a photo")
        return self._move_locked(item, Kind.PROTECTED, os.path.join(self.protected_dir, item.name))

    def _move_locked(self, item: Item, kind: Kind, dest: str) -> Item:
        try:
            self.fs.rename(item.path, dest)
        except FileNotFoundError:
            self._remove_locked(item.seq)
            raise NotFound(f"item {item.id} is gone from the card") from None
        self._index.remove(item.seq)
        moved = dataclasses.replace(item, kind=kind, path=dest)
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
        victims: list[Item] = []
        seqs = self._index.by_kind[Kind.PROTECTED]
        i = 0
        while self._index.bytes[Kind.PROTECTED] > limit and i < len(seqs):
            if seqs[i] in shield:
                i += 1
                continue
            victims.append(self._remove_locked(seqs[i]))
        if victims:
            log.warning(
                "protected quota: deleted %d oldest protected clips",
                len(victims),
            )
        return victims

    def _delete_files_soon(self, victims: list[Item]) -> None:
        """Delete the files of items already out of the index, then empty day folders."""
        if not victims:
            return
        folders: set[str] = set()
        for item in victims:
            _unlink(item.path)
            _unlink(item.thumb or self._thumb_path(item.seq))
            folder = os.path.dirname(item.path)
            if os.path.dirname(folder) in (self.loop_dir, self.photo_dir):
                folders.add(folder)
        with self._lock:  # a folder with a file being written in it stays
            busy = {os.path.dirname(p) for p in self._open.values()}
            for folder in folders - busy:
                with contextlib.suppress(OSError):  # not empty
                    os.rmdir(folder)
