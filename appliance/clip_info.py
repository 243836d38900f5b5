"""What the library learns from a clip's own file: a partial's recovery, its length, its
thumbnail.

These are library chores, run off the controller's thread on its jobs thread (the
controller only schedules them and publishes afterwards): a partial a crash or a pulled
card left is cut to its last whole fragment and indexed; a clip found at start without
its duration or thumbnail gets them from its file. A clip that cannot be read keeps what
it has (a warning is logged), never stopping the recording.
"""

from __future__ import annotations

import logging

from appliance.items import Item
from appliance.library import Library
from appliance.media.segment import file_thumbnail_jpeg, probe_duration, recover

log = logging.getLogger(__name__)


def recover_partial(library: Library, path: str) -> Item | None:
    """Recover a partial left by a crash or a pulled card and index it with its thumbnail.

    Args:
        library: The library that adopts the recovered clip.
        path: The ``.partial`` file.

    Returns:
        The clip indexed, or None when nothing in it decodes (it was moved aside).
    """
    recovered = recover(path)
    item = library.adopt_partial(path, recovered.duration_s if recovered else None)
    if item is None:
        log.warning("nothing in %s decodes; moved aside", path)
        return None
    log.info("recovered %s: %d frames", item.name, recovered.frames)
    if item.thumb is None:
        make_thumbnail(library, item.seq, item.path)
    return item


def make_thumbnail(library: Library, seq: int, path: str) -> None:
    """Give clip ``seq`` the thumbnail of its file; a file that cannot be read gets none."""
    try:
        library.set_thumbnail(seq, file_thumbnail_jpeg(path))
    except (ValueError, KeyError, OSError) as exc:
        log.warning("thumbnail of %08d failed: %s", seq, exc)


def fill_clip_info(library: Library, item: Item) -> None:
    """Give a clip found at start its missing duration and thumbnail, read from its file."""
    if item.duration_s is None:
        duration_s = probe_duration(item.path)
        if duration_s is not None:
            library.set_duration(item.seq, duration_s)
    if item.thumb is None:
        make_thumbnail(library, item.seq, item.path)
