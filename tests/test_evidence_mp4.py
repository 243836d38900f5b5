"""Every MP4 says when it was filmed (UTC) and how long it is, to the tools that read it.

exiftool and mediainfo run on a clip the recorder wrote, on a clip recovered after a power
cut and on an incident's export: the creation time (exiftool's CreateDate and the track
and media dates, mediainfo's Encoded date) is the clip's first frame in UTC, the duration
is the clip's, and no debug text is in the file's tags.
"""

from __future__ import annotations

import calendar
import os
import time

import pytest

from appliance.media.fragments import read_layout
from appliance.media.header import HEADER_MAX_BYTES, patched_header
from appliance.media.joined import export_clips
from appliance.media.segment import SegmentWriter, recover
from tests.evidence_tools import (
    exiftool,
    ffprobe,
    mediainfo_general,
    needs_exiftool,
    needs_ffprobe,
    needs_mediainfo,
)
from tests.harness import PowerCutModel, camera_packets

#: The moment the first frame was taken, in the tests (UTC).
FILMED = "2026-11-22 07:15:00"
FILMED_S = calendar.timegm(time.strptime(FILMED, "%Y-%m-%d %H:%M:%S"))


@pytest.fixture(scope="module")
def packets():
    return camera_packets(4.0)


def write_clip(path, info, packets, filmed_s=FILMED_S) -> SegmentWriter:
    writer = SegmentWriter(str(path), info, packets[0], created_wall_s=filmed_s)
    for packet in packets[1:]:
        writer.write(packet)
    writer.close()
    return writer


def exif_date(text: str) -> str:
    return text.replace(":", "-", 2)


@needs_exiftool
@needs_mediainfo
def test_a_clip_says_when_it_was_filmed_and_how_long_it_is(tmp_path, packets) -> None:
    info, pkts = packets
    clip = tmp_path / "00000001_20261122-081500.mp4"
    writer = write_clip(clip, info, pkts)
    tags = exiftool(clip)
    for tag in (
        "QuickTime:CreateDate",
        "QuickTime:ModifyDate",
        "Track1:TrackCreateDate",
        "Track1:MediaCreateDate",
    ):
        assert exif_date(tags[tag]) == FILMED, tag
    assert tags["QuickTime:Duration"] == pytest.approx(writer.duration_s, abs=0.002)
    # No debug text (the camera's frame numbers) in what anyone reads.
    assert "ItemList:Comment" not in tags
    assert not any("first_frame" in str(v) for v in tags.values())
    general = mediainfo_general(clip)
    assert general["Encoded_Date"] == f"{FILMED} UTC"
    assert float(general["Duration"]) == pytest.approx(4.0, abs=0.05)


@needs_ffprobe
def test_the_patched_header_keeps_the_clip_playable_and_its_fragments(tmp_path, packets) -> None:
    """mvhd's duration and a mehd in mvex, at the header's size: the fragments stay where
    they were, ffprobe reads the length once (not twice) and every frame."""
    info, pkts = packets
    clip = tmp_path / "clip.mp4"
    write_clip(clip, info, pkts)
    with open(clip, "rb") as fh:
        header = fh.read(HEADER_MAX_BYTES)
    assert b"mehd" in header and b"Lavf" not in header
    layout = read_layout(str(clip))
    assert layout.samples == len(pkts)
    probed = ffprobe(clip, "format=duration", "stream=nb_read_packets")
    assert float(probed["format"]["duration"]) == pytest.approx(4.0, abs=0.05)
    again = patched_header(header, 4.0)  # patching twice changes nothing more
    assert again is not None and header[again[0] : again[0] + len(again[1])] == again[1]


@needs_exiftool
@needs_mediainfo
def test_a_recovered_clip_says_when_and_how_long_too(tmp_path, packets) -> None:
    """A power cut 2.5 s into the clip (what fdatasync had made durable): the recovered
    clip holds the whole fragments and its header says their length, and when."""
    info, pkts = packets
    model = PowerCutModel(tmp_path, info, pkts)
    partial = tmp_path / "00000002_20261122-081500.mp4.partial"
    partial.write_bytes(model.durable_at(model.written_at(2.5)))
    before = exiftool(partial)
    assert before["QuickTime:Duration"] == 0  # the empty moov of an open clip says nothing
    recovered = recover(str(partial))
    assert recovered is not None and 1.0 <= recovered.duration_s <= 2.5
    tags = exiftool(partial)
    assert tags["QuickTime:Duration"] == pytest.approx(recovered.duration_s, abs=0.002)
    # PowerCutModel's writer was given no time: it took the time it opened, in UTC.
    created = calendar.timegm(time.strptime(tags["QuickTime:CreateDate"], "%Y:%m:%d %H:%M:%S"))
    assert abs(created - os.path.getmtime(partial)) < 120
    general = mediainfo_general(partial)
    assert float(general["Duration"]) == pytest.approx(recovered.duration_s, abs=0.05)
    assert general["Encoded_Date"].endswith(" UTC")


@needs_exiftool
@needs_mediainfo
def test_an_export_takes_its_first_clips_creation_time(tmp_path, packets) -> None:
    info, pkts = packets
    half = len(pkts) // 2
    first = tmp_path / "a.mp4"
    second = tmp_path / "b.mp4"
    write_clip(first, info, pkts[:half])
    write_clip(second, info, pkts[half:], FILMED_S + 2)
    out = tmp_path / "export.mp4"
    export_clips([str(first), str(second)], str(out))
    tags = exiftool(out)
    assert exif_date(tags["QuickTime:CreateDate"]) == FILMED
    assert exif_date(tags["Track1:MediaCreateDate"]) == FILMED
    assert tags["QuickTime:Duration"] == pytest.approx(4.0, abs=0.05)
    assert "ItemList:Comment" not in tags
    general = mediainfo_general(out)
    assert general["Encoded_Date"] == f"{FILMED} UTC"
    assert float(general["Duration"]) == pytest.approx(4.0, abs=0.05)


@needs_exiftool
def test_a_cut_between_the_header_write_and_the_last_sync_leaves_a_clip_recovered_whole(
    tmp_path, packets
) -> None:
    """The header is written just before the close's sync: a cut there leaves what the sync
    before made durable (the old header, no last fragment); recovery writes the length of
    what is left, and the clip plays."""
    info, pkts = packets
    model = PowerCutModel(tmp_path, info, pkts)
    closed = model.syncs[-1][1]
    with open(tmp_path / "closed.mp4", "wb") as fh:
        fh.write(closed)
    assert exiftool(tmp_path / "closed.mp4")["QuickTime:Duration"] == pytest.approx(4.0, abs=0.05)
    partial = tmp_path / "00000003_20261122-081500.mp4.partial"
    partial.write_bytes(model.syncs[-2][1])  # the header not yet durable
    assert exiftool(partial)["QuickTime:Duration"] == 0
    recovered = recover(str(partial))
    assert recovered is not None and recovered.frames < len(pkts)
    assert exiftool(partial)["QuickTime:Duration"] == pytest.approx(recovered.duration_s, abs=0.002)
    assert read_layout(str(partial)).samples == recovered.frames
