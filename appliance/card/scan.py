"""Reading the card once at start: the folders walked into an index, and the LOST folder.

:func:`read_card` is the one pass over the card that :meth:`Library.scan` makes. Whatever
is not one of the library's own files is skipped with a warning: symlinks (never followed),
FIFOs and folders with media names, unexpected names. Left-over ``.partial`` segments are
returned for recovery; a partial photo goes to LOST at once.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from appliance.card.files import unlink
from appliance.card.volume import Card
from appliance.items import (
    DAY_RE,
    LOST_RE,
    MEDIA_RE,
    SIDECAR_RE,
    THUMB_RE,
    Index,
    Item,
    Kind,
    day_of,
)
from appliance.ports import FileSystem

log = logging.getLogger(__name__)

#: LOST keeps at most this many files ...
LOST_MAX_FILES = 20
#: ... and at most this many bytes; the oldest (lowest sequence number) go first.
LOST_MAX_BYTES = 64 * 1024 * 1024


class LostFolder:
    """DCIM/LOST: partials that did not decode, kept within :data:`LOST_MAX_FILES` and
    :data:`LOST_MAX_BYTES` (the oldest go first).

    Args:
        path: The LOST folder.
        fs: The file-system port the move goes through.
    """

    def __init__(self, path: str, fs: FileSystem) -> None:
        self.path = path
        self._fs = fs

    def take(self, path: str) -> str:
        """Move ``path`` into LOST, then trim LOST. Returns the new path."""
        dest = os.path.join(self.path, os.path.basename(path))
        self._fs.rename(path, dest)
        log.warning("moved unrecoverable %s to LOST", path)
        self.trim()
        return dest

    def trim(self) -> None:
        """Delete the oldest files of LOST until both caps hold."""
        files: list[tuple[int, str, str, int]] = []  # seq, name, path, size
        try:
            with os.scandir(self.path) as entries:
                for entry in entries:
                    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
                        continue
                    m = LOST_RE.match(entry.name)
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
            unlink(path)
            total -= size
            log.info("LOST is over its cap: deleted %s", name)

    def max_seq(self) -> int:
        """The highest sequence number in LOST (never used again), or -1."""
        best = -1
        with os.scandir(self.path) as entries:
            for entry in entries:
                m = LOST_RE.match(entry.name)
                if entry.is_symlink():
                    log.warning("ignoring a symlink in LOST: %s", entry.name)
                elif m:
                    best = max(best, int(m.group(1)))
        return best


@dataclass
class CardContents:
    """What :func:`read_card` found.

    Attributes:
        index: The closed clips and photos.
        thumbs: Sequence numbers that have a thumbnail.
        partials: ``(seq, path)`` of left-over partial segments, oldest first.
        max_seq: The highest sequence number seen anywhere (LOST too), or -1.
    """

    index: Index = field(default_factory=Index)
    thumbs: set[int] = field(default_factory=set)
    partials: list[tuple[int, str]] = field(default_factory=list)
    max_seq: int = -1


def partial_segment_seq(path: str) -> int:
    """The sequence number of a left-over partial segment at ``path``.

    Raises:
        ValueError: the name is not a partial segment name.
    """
    m = MEDIA_RE.match(os.path.basename(path))
    if m is None or not m.group(4) or m.group(3) != "mp4":
        raise ValueError(f"not a partial segment: {path}")
    return int(m.group(1))


def read_card(card: Card, lost: LostFolder) -> CardContents:
    """Walk the card's folders once and build the index (see the module docstring)."""
    out = CardContents()
    out.thumbs = _read_thumbs(card.thumb_dir)
    found: list[tuple[int, Kind, str, int, str]] = []  # seq, kind, path, size, stamp

    def take(folder: str, kind: Kind, ext: str) -> None:
        match = MEDIA_RE.match
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink():
                    log.warning("ignoring a symlink: %s", entry.path)
                    continue
                if not entry.is_file(follow_symlinks=False):  # a FIFO would hang a reader
                    log.warning("ignoring something that is not a file: %s", entry.path)
                    continue
                m = match(entry.name)
                if m is None and ext == "mp4" and SIDECAR_RE.match(entry.name):
                    continue  # a clip's sidecar: it goes with its clip
                if m is None and entry.name.endswith(".tmp") and SIDECAR_RE.match(entry.name[:-4]):
                    unlink(entry.path)  # a sidecar's write a power cut cut short
                    continue
                if m is None or m.group(3) != ext:
                    log.warning("ignoring file with an unexpected name: %s", entry.path)
                    continue
                seq = int(m.group(1))
                if seq > out.max_seq:
                    out.max_seq = seq
                if m.group(4):
                    if kind is Kind.PHOTO:
                        lost.take(entry.path)
                    else:
                        out.partials.append((seq, entry.path))
                    continue
                size = entry.stat(follow_symlinks=False).st_size
                found.append((seq, kind, entry.path, size, m.group(2)))

    def walk_days(top: str, kind: Kind, ext: str) -> None:
        with os.scandir(top) as days:
            for day in days:
                if day.is_symlink():
                    log.warning("ignoring a symlink: %s", day.path)
                elif day.is_dir(follow_symlinks=False) and DAY_RE.match(day.name):
                    take(day.path, kind, ext)
                else:
                    log.warning("ignoring unexpected entry: %s", day.path)

    walk_days(card.loop_dir, Kind.LOOP, "mp4")
    take(card.protected_dir, Kind.PROTECTED, "mp4")
    walk_days(card.photo_dir, Kind.PHOTO, "jpg")
    out.max_seq = max(out.max_seq, lost.max_seq())  # numbers of lost files are not reused

    # Sorted by seq, every index list is built by appending.
    found.sort(key=lambda row: row[0])
    days: dict[str, str] = {}
    thumb_prefix = card.thumb_dir + os.sep
    last = -1
    for seq, kind, path, size, stamp in found:
        if seq == last:
            log.warning("ignoring %s: sequence %d already indexed", path, seq)
            continue
        last = seq
        day = days.get(stamp[:8])
        if day is None:
            day = days[stamp[:8]] = day_of(stamp)
        thumb = f"{thumb_prefix}{seq:08d}.jpg" if seq in out.thumbs else None
        out.index.add(Item(seq, kind, path, size, day, stamp, thumb))
    out.partials.sort()
    return out


def _read_thumbs(thumb_dir: str) -> set[int]:
    """Sequence numbers of the thumbnails in THUMB; stale ``.tmp`` files are deleted."""
    thumbs: set[int] = set()
    with os.scandir(thumb_dir) as entries:
        for entry in entries:
            m = THUMB_RE.match(entry.name)
            if entry.is_symlink():
                log.warning("ignoring a symlink in THUMB: %s", entry.name)
            elif not entry.is_file(follow_symlinks=False):
                log.warning("ignoring a non-file in THUMB: %s", entry.name)
            elif m:
                thumbs.add(int(m.group(1)))
            elif entry.name.endswith(".tmp"):
                unlink(entry.path)
            else:
                log.warning("ignoring unexpected file in THUMB: %s", entry.name)
    return thumbs
