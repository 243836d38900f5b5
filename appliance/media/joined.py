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
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import av

from appliance.items import Item
from appliance.media.fragments import LayoutError, read_layout
from appliance.media.stream_copy import copy_stream

log = logging.getLogger(__name__)

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
    return export_timed(paths, out_path)[0]


def export_timed(paths: Iterable[str], out_path: str) -> tuple[int, list[float], float]:
    """:func:`export_clips`, returning (frames, where each clip starts in the export in
    seconds, the export's length in seconds)."""
    paths = list(paths)
    if not paths:
        raise ExportError("no clips to export")
    tmp = f"{out_path}.tmp"
    try:
        timed = _join(paths, tmp)
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return timed


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


def _join(paths: list[str], out_path: str) -> tuple[int, list[float], float]:
    frames = 0
    offset = 0  # in the clips' time base (they share one, or are refused)
    starts: list[float] = []
    time_base = None
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
                time_base = istream.time_base
                starts.append(float(offset * time_base))
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
    return frames, starts, float(offset * time_base) if time_base else 0.0


@dataclass
class Evidence:
    """An incident's export and what goes with it, each as (name to give it, path).

    Attributes:
        files: The MP4 first, then its merged track (GPX, SRT) when the clips had one, the
            G-force samples of its impacts (CSV, on the export's time line), its manifest
            (``.chain``: the clips' links and the export's own, signed) and the device's
            public key.
        frames: Video frames in the MP4.
    """

    files: list[tuple[str, str]]
    frames: int


def export_incident(
    clips: list[Item],
    out_path: str,
    *,
    incident_id: int,
    stem: str,
    key: Any = None,
    unit: str = "km/h",
    wait_s: float = 5.0,
) -> Evidence:
    """Export an incident's clips as one MP4 at ``out_path`` with its evidence beside it:
    one GPX and SRT merged from the clips' tracks on the export's time line (and the same
    GPS inside the MP4: :func:`appliance.telemetry.add_gps_track`), the manifest
    that ties the export to the clips' signed links (each clip's own link is waited for
    up to ``wait_s``: a clip that closed a moment ago is being sealed), and the public key.

    Args:
        clips: The incident's clips, in order.
        out_path: The MP4 to write (its sidecars are written beside it).
        incident_id: The incident's number.
        stem: The name the files are given for download (``dashcam_<stamp>_incident<N>``).
        key: The device's :class:`appliance.chain.DeviceKey`; None: an unsigned manifest.
        unit: The SRT's speed unit.

    Raises:
        ExportError, OSError: as :func:`export_clips`.
    """
    from appliance.chain import CHAIN_EXT, file_sha256, make_link, read_links, utc_text
    from appliance.exif import utc_offset_text
    from appliance.gps_track import Track, read_gpx_track
    from appliance.items import stamp_wall_s
    from appliance.telemetry import add_gps_track

    frames, starts, length_s = export_timed([c.path for c in clips], out_path)
    base = os.path.splitext(out_path)[0]
    files = [(stem + ".mp4", out_path)]
    merged = Track(max_points=len(clips) * 3600)
    for clip, start_s in zip(clips, starts, strict=True):
        try:
            with open(clip.sidecar(".gpx"), "rb") as fh:
                track = read_gpx_track(fh.read())
        except (OSError, ValueError):
            continue  # no track for this clip (no fix, or no GPS)
        last = None
        for fix, at_s in zip(track.fixes, track.times_s, strict=True):
            merged.add(fix, start_s + at_s)
            last = fix
        if last is not None:
            merged.add(type(last)(mode=0), start_s + (clip.duration_s or 0.0))  # a gap
    if merged.points:
        # The GPS inside the MP4 too (a tx3g track, exiftool -ee), before it is hashed.
        timed = list(zip(merged.times_s, merged.fixes, strict=True))
        if add_gps_track(out_path, timed, length_s):
            log.info("export: the GPS track is in %s too", os.path.basename(out_path))
        offset = utc_offset_text(stamp_wall_s(clips[0].stamp))
        for ext, text in (
            (".gpx", merged.to_gpx(stem, clip=stem + ".mp4", utc_offset=offset)),
            (".srt", merged.to_srt(unit, end_s=length_s)),
        ):
            _write(base + ext, text.encode("utf-8"))
            files.append((stem + ext, base + ext))
    from appliance.gforce import merged_csv

    parts = []
    for clip, start_s in zip(clips, starts, strict=True):
        try:
            with open(clip.sidecar(".csv"), encoding="ascii") as fh:
                parts.append((start_s, fh.read()))
        except (OSError, ValueError):
            continue  # no impact in this clip
    try:
        gforce = merged_csv(parts)
    except ValueError as exc:
        log.warning("export: a G-force record cannot be read: %s", exc)
        gforce = None
    if gforce is not None:
        _write(base + ".csv", gforce.encode("ascii"))
        files.append((stem + ".csv", base + ".csv"))
    sources = []
    # Without a key no sealer signs the clips: nothing to wait for.
    deadline = time.monotonic() + (wait_s if key is not None else 0.0)
    for clip in clips:
        link = None
        while link is None:
            try:
                link = next(read_links(clip.sidecar(CHAIN_EXT)), None)
            except OSError:
                link = None
            if link is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.1)  # the sealer's thread writes it within a second of the close
        if link is not None:
            sources.append(link)
    digest, size = file_sha256(out_path)
    export_link = make_link(
        key,
        {
            "kind": "export",
            "incident": incident_id,
            "file": stem + ".mp4",
            "bytes": size,
            "sha256": digest,
            "sources": [link.hash for link in sources],
            "clips": [clip.name for clip in clips],
            "sealed": utc_text(time.time()),
        },
    )
    manifest = b"".join(link.line + b"\n" for link in [*sources, export_link])
    _write(base + CHAIN_EXT, manifest)
    files.append((stem + CHAIN_EXT, base + CHAIN_EXT))
    if key is not None:
        pub = os.path.join(os.path.dirname(out_path), f"device-{key.id}.pub")
        _write(pub, key.public_pem())
        files.append((os.path.basename(pub), pub))
    return Evidence(files, frames)


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
