"""Reading what a segment file holds, for tests and benches (never used by the appliance)."""

from __future__ import annotations

import av


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
