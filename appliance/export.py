"""One plain MP4 from several clips, by stream copy: an incident to share.

The clips on the card are fragmented MP4, which some players show only the first fragment
of (Windows' built-in player, messaging apps). An export is a plain MP4 with its index at
the front (``faststart``), made by copying the H.264 packets of each clip after the other
with their times made continuous: no decoding, no encoding, so it is fast on a Zero.

The index goes to the front in one pass: room for it is kept at the start of the file
(FFmpeg's ``moov_size``), sized from the clips' fragment headers, so the file is written
once instead of written and then rewritten by ``faststart``'s second pass. A clip whose
fragments cannot be read (not a fragmented MP4) falls back to ``faststart``. The export
takes its first clip's creation time (UTC), so it says when it was filmed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import av

from appliance.fmp4 import LayoutError, read_layout
from appliance.stream_copy import copy_stream

#: Bytes kept for the index at the front: this much ...
MOOV_BASE_BYTES = 64 * 1024
#: ... plus this much per frame (sizes, offsets, times, keyframe marks at their largest).
MOOV_FRAME_BYTES = 48


class ExportError(ValueError):
    """The clips cannot be joined (none given, no video, different streams)."""


def export_clips(paths: Iterable[str], out_path: str) -> int:
    """Write the clips at ``paths``, in order, into one faststart MP4 at ``out_path``.

    The file is written beside ``out_path`` under a temporary name and renamed into place
    when whole.

    Returns:
        The number of video frames written.

    Raises:
        ExportError: No clips, a clip without video, or clips whose streams differ.
        OSError: A clip cannot be read or the output written (nothing is left behind).
    """
    paths = list(paths)
    if not paths:
        raise ExportError("no clips to export")
    tmp = f"{out_path}.tmp"
    try:
        frames = _join(paths, tmp)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return frames


def _front_index_options(paths: list[str]) -> dict[str, str]:
    """The muxer options that put the index first: room kept for it, else ``faststart``."""
    try:
        layouts = [read_layout(path) for path in paths]
    except LayoutError:
        layouts = []
    if not layouts or not all(layout.fragments for layout in layouts):
        return {"movflags": "+faststart"}
    frames = sum(layout.samples for layout in layouts)
    return {"moov_size": str(MOOV_BASE_BYTES + MOOV_FRAME_BYTES * frames)}


def _join(paths: list[str], out_path: str) -> int:
    frames = 0
    offset = 0  # in the clips' time base (they share one, or are refused)
    with av.open(out_path, "w", format="mp4", options=_front_index_options(paths)) as out:
        ostream = None
        shape = None
        for path in paths:
            with av.open(path) as clip:
                if not clip.streams.video:
                    raise ExportError(f"{os.path.basename(path)}: no video stream")
                istream = clip.streams.video[0]
                ctx = istream.codec_context
                this = (
                    ctx.name,
                    ctx.width,
                    ctx.height,
                    istream.time_base,
                    bytes(ctx.extradata or b""),
                )
                if ostream is None:
                    # When it was filmed: the first clip's time (set before the header).
                    created = clip.metadata.get("creation_time")
                    if created:
                        out.metadata["creation_time"] = created
                    ostream = copy_stream(out, istream)
                    shape = this
                elif this != shape:
                    raise ExportError(
                        f"{os.path.basename(path)}: its video differs from the first clip's "
                        "(size or encoder settings): export them apart"
                    )
                last_end = 0
                for packet in clip.demux(istream):
                    if packet.dts is None or packet.size == 0:
                        continue
                    duration = packet.duration or 0
                    packet.dts += offset
                    packet.pts = (packet.pts if packet.pts is not None else packet.dts) + offset
                    last_end = max(last_end, packet.pts + duration)
                    packet.stream = ostream
                    out.mux(packet)
                    frames += 1
                offset = max(offset, last_end)
    return frames
