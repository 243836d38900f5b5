"""How the recordings are laid out once they leave the card.

The network drive (``web/dav.py``) and the upload (``appliance/uploader.py``) show the same
tree, made from the index, never from the card's own folders (which hold thumbnails,
sequence files and partials)::

    Protected/<clip>.mp4
    Loop/<day>/<clip>.mp4
    Photos/<day>/<photo>.jpg

A clip's sidecars (its subtitles, GPX, link in the chain, G-force samples) lie beside it
under its base name and go wherever it goes: :func:`travelling_files` is the one answer to
"which files travel with this item", which the drive, the ZIP and the upload all ask.
"""

from __future__ import annotations

import os

from appliance.items import SIDECAR_EXTS
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


def sidecar_share_path(item: Item, ext: str) -> str:
    """The share path of ``item``'s sidecar ``ext``: beside it, same base name."""
    return os.path.splitext(share_path(item))[0] + ext


def travelling_files(item: Item) -> list[tuple[str, str]]:
    """(share path, path on the card) of ``item`` and of each of its sidecars that exists,
    the item first."""
    files = [(share_path(item), item.path)]
    if item.is_video:
        for ext in SIDECAR_EXTS:
            path = item.sidecar(ext)
            if os.path.isfile(path) and not os.path.islink(path):
                files.append((sidecar_share_path(item, ext), path))
    return files


def sidecar_of(name: str) -> tuple[str, str] | None:
    """(the clip's file name, the sidecar's extension) of a sidecar's file name, else None."""
    stem, ext = os.path.splitext(name)
    if ext not in SIDECAR_EXTS or not stem:
        return None
    return stem + ".mp4", ext
