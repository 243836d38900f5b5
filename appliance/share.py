"""How the recordings are laid out once they leave the card.

The network drive (``web/dav.py``) and the upload (``appliance/upload.py``) show the same
tree, made from the index, never from the card's own folders (which hold thumbnails,
sequence files and partials)::

    Protected/<clip>.mp4
    Loop/<day>/<clip>.mp4
    Photos/<day>/<photo>.jpg
"""

from __future__ import annotations

from appliance.library import Item, Kind

#: The top folders and what each holds.
FOLDERS: dict[str, Kind] = {"Protected": Kind.PROTECTED, "Loop": Kind.LOOP, "Photos": Kind.PHOTO}
#: The kinds whose folder is split by day.
BY_DAY = frozenset({Kind.LOOP, Kind.PHOTO})
_FOLDER_OF = {kind: name for name, kind in FOLDERS.items()}


def share_path(item: Item) -> str:
    """``item``'s path in the tree, e.g. ``Loop/2026-11-22/00000123_20261122-081500.mp4``."""
    folder = _FOLDER_OF[item.kind]
    if item.kind in BY_DAY:
        return f"{folder}/{item.day}/{item.name}"
    return f"{folder}/{item.name}"
