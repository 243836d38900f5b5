"""Reading what a segment file holds, for tests and benches (never used by the appliance)."""

from __future__ import annotations

import av

from appliance.media.fragments import boxes


def provenance(path: str) -> tuple[int, int] | None:
    """The (first frame index, first camera pts in µs) a segment was written with."""
    with av.open(path) as container:
        fields = dict(
            part.split("=", 1)
            for part in container.metadata.get("comment", "").split()
            if "=" in part
        )
    try:
        return int(fields["first_frame"]), int(fields["first_pts_us"])
    except (KeyError, ValueError):
        return None


def packet_count(path: str) -> int:
    """The number of video packets (frames) the file holds."""
    with av.open(path) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def is_plain_faststart(path: str) -> bool:
    """True if ``path`` is a plain MP4 (no fragments) with its ``moov`` before ``mdat``."""
    with open(path, "rb") as fh:
        end = fh.seek(0, 2)
        kinds = [kind for kind, _, _, _ in boxes(fh, 0, end)]
    if b"moof" in kinds or b"moov" not in kinds or b"mdat" not in kinds:
        return False
    return kinds.index(b"moov") < kinds.index(b"mdat")
