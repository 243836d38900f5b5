"""What is on the card: its layout names, the kinds of item, an item, and the index.

The layout under the storage root::

    DCIM/LOOP/<YYYY-MM-DD>/<seq:08d>_<YYYYMMDD-HHMMSS>.mp4   loop clips (".partial" while open)
    DCIM/PROTECTED/<seq:08d>_<YYYYMMDD-HHMMSS>.mp4           protected clips, never pruned
    DCIM/PHOTO/<YYYY-MM-DD>/<seq:08d>_<YYYYMMDD-HHMMSS>.jpg  photos, never pruned
    DCIM/LOOP/<YYYY-MM-DD>/<seq:08d>_<YYYYMMDD-HHMMSS>.srt   beside a clip, same base name: its
                               .gpx, .chain                 GPS track as subtitles and GPX (with
                                                            a fix), its link in the chain
    DCIM/THUMB/<seq:08d>.jpg                                 one thumbnail per clip or photo
    DCIM/TRACK/<seq:08d>.part                                the open clip's fixes, journaled
    DCIM/CHAIN                                               every clip's signed link, in order
    DCIM/LOST/                                               partials that did not decode
    DCIM/SEQUENCE                                            the next sequence number
    DCIM/PROTECTING                                          open segments to be protected
    DCIM/INCIDENTS                                           the incidents (JSON)

:class:`Index` keeps items by sequence number with sorted lists per kind and per day, so
that paging, pruning and the day filter never walk the card.
"""

from __future__ import annotations

import bisect
import enum
import io
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

DCIM = "DCIM"
LOOP_DIR = "LOOP"
PROTECTED_DIR = "PROTECTED"
PHOTO_DIR = "PHOTO"
THUMB_DIR = "THUMB"
TRACK_DIR = "TRACK"
LOST_DIR = "LOST"
#: Where an incident's export goes (:mod:`appliance.export_service`); never scanned for items.
EXPORT_DIR = "EXPORT"
SEQUENCE_FILE = "SEQUENCE"
PARTIAL_SUFFIX = ".partial"
VIDEO_EXT = ".mp4"
PHOTO_EXT = ".jpg"
THUMB_WIDTH_PX = 320
#: The files that lie beside a clip under its base name and go wherever it goes (moved,
#: deleted, listed, zipped, uploaded with it): subtitles, GPX, its link in the chain, and
#: an impact's G-force samples.
SIDECAR_EXTS = (".srt", ".gpx", ".chain", ".csv")

DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MEDIA_RE = re.compile(r"^(\d{8,})_(\d{8}-\d{6})\.(mp4|jpg)(\.partial)?$")
THUMB_RE = re.compile(r"^(\d{8,})\.jpg$")
LOST_RE = re.compile(r"^(\d{8,})_")
SIDECAR_RE = re.compile(r"^(\d{8,})_(\d{8}-\d{6})\.(srt|gpx|chain|csv)$")


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

    def sidecar(self, ext: str) -> str:
        """The path of its sidecar ``ext`` (one of :data:`SIDECAR_EXTS`) beside it."""
        return os.path.splitext(self.path)[0] + ext


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
    # Imported here: the config reads the reserve's formula from the pruner, which needs
    # this module's index, and must not load an imaging library (issue 22).
    from PIL import Image, UnidentifiedImageError

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


def stamp_and_day(wall_s: float) -> tuple[str, str]:
    """The ("YYYYMMDD-HHMMSS", "YYYY-MM-DD") of a wall-clock time, in local time."""
    try:
        tm = time.localtime(wall_s)
    except (OverflowError, OSError, ValueError):
        tm = time.localtime(0)
    return time.strftime("%Y%m%d-%H%M%S", tm), time.strftime("%Y-%m-%d", tm)


def stamp_wall_s(stamp: str) -> float:
    """The epoch seconds of a "YYYYMMDD-HHMMSS" stamp read as local time (0 if unreadable)."""
    try:
        return time.mktime(time.strptime(stamp, "%Y%m%d-%H%M%S"))
    except (ValueError, OverflowError):
        return 0.0


def day_of(stamp: str) -> str:
    """The "YYYY-MM-DD" of a "YYYYMMDD-HHMMSS" stamp."""
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"


class Index:
    """Items by seq, sorted seq lists per kind and per (day, kind), byte totals per kind."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.by_kind: dict[Kind, list[int]] = {kind: [] for kind in Kind}
        self.by_day: dict[tuple[str, Kind], list[int]] = {}
        self.bytes: dict[Kind, int] = {kind: 0 for kind in Kind}

    def add(self, item: Item) -> None:
        self.items[item.seq] = item
        insert_seq(self.by_kind[item.kind], item.seq)
        insert_seq(self.by_day.setdefault((item.day, item.kind), []), item.seq)
        self.bytes[item.kind] += item.size

    def remove(self, seq: int) -> Item:
        item = self.items.pop(seq)
        remove_seq(self.by_kind[item.kind], seq)
        key = (item.day, item.kind)
        day_list = self.by_day[key]
        remove_seq(day_list, seq)
        if not day_list:
            del self.by_day[key]
        self.bytes[item.kind] -= item.size
        return item

    def replace(self, item: Item) -> None:
        """Swap in a changed item with the same seq, kind, day and size."""
        self.items[item.seq] = item

    def page(
        self, kinds: Iterable[Kind], day: str | None, before: int | None, limit: int
    ) -> list[Item]:
        """Items of ``kinds`` (of ``day``, below seq ``before``), newest first, at most
        ``limit``."""
        chosen: list[int] = []
        for kind in kinds:
            seqs = self.by_kind[kind] if day is None else self.by_day.get((day, kind), [])
            end = len(seqs) if before is None else bisect.bisect_left(seqs, before)
            chosen.extend(seqs[max(0, end - limit) : end])
        chosen.sort(reverse=True)
        return [self.items[s] for s in chosen[:limit]]

    def days(self) -> list[str]:
        """Days that have items, the day of the newest item (by seq) first."""
        newest: dict[str, int] = {}
        for (day, _), seqs in self.by_day.items():
            if seqs[-1] > newest.get(day, -1):
                newest[day] = seqs[-1]
        return sorted(newest, key=newest.__getitem__, reverse=True)

    def newest_clip_before(self, seq: int | None) -> int | None:
        """The clip (loop or protected) with the highest seq below ``seq`` (None: any)."""
        best: int | None = None
        for kind in (Kind.LOOP, Kind.PROTECTED):
            seqs = self.by_kind[kind]
            i = len(seqs) if seq is None else bisect.bisect_left(seqs, seq)
            if i > 0 and (best is None or seqs[i - 1] > best):
                best = seqs[i - 1]
        return best

    def clips_lacking_info(self, thumbs: set[int]) -> list[Item]:
        """Clips without a known duration or without a thumbnail in ``thumbs``, newest
        first."""
        lacking = [
            self.items[seq]
            for kind in (Kind.LOOP, Kind.PROTECTED)
            for seq in self.by_kind[kind]
            if self.items[seq].duration_s is None or seq not in thumbs
        ]
        lacking.sort(key=lambda item: item.seq, reverse=True)
        return lacking


def insert_seq(seqs: list[int], seq: int) -> None:
    """Insert ``seq`` into the sorted list ``seqs``."""
    if not seqs or seqs[-1] < seq:
        seqs.append(seq)  # the common case: a new seq is the highest
    else:
        bisect.insort(seqs, seq)


def remove_seq(seqs: list[int], seq: int) -> None:
    """Remove ``seq`` from the sorted list ``seqs`` if it is there."""
    i = bisect.bisect_left(seqs, seq)
    if i < len(seqs) and seqs[i] == seq:
        del seqs[i]
