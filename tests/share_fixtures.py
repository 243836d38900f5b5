"""A library filled for the tests of what leaves the card (network drive, upload)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from appliance.library import Library
from appliance.share import share_path


def fill_library(library: Library, clip_bytes: int = 300_000) -> dict[str, bytes]:
    """Three loop clips (the oldest then protected), one photo and an open segment.

    Returns:
        Each closed item's share path (:func:`appliance.share.share_path`) and its bytes.
    """
    expected: dict[str, bytes] = {}
    seqs = []
    for _ in range(3):
        plan = library.begin_segment()
        Path(plan.partial_path).write_bytes(b"\x00\x00\x00\x18ftypiso6" + os.urandom(clip_bytes))
        seqs.append(library.finish_segment(plan, 60.0).seq)
    library.protect(seqs[0])
    jpeg = io.BytesIO()
    Image.effect_noise((320, 240), 60).convert("RGB").save(jpeg, "JPEG")
    seqs.append(library.add_photo(jpeg.getvalue()).seq)
    for seq in seqs:
        item = library.get(seq)
        expected[share_path(item)] = Path(item.path).read_bytes()
    plan = library.begin_segment()  # being recorded: never leaves the card
    Path(plan.partial_path).write_bytes(b"open segment")
    return expected
