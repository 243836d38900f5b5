"""Export: clips joined by stream copy into one plain faststart MP4, every frame once."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from appliance.media.fragments import boxes
from appliance.media.joined import ExportError, export_clips
from appliance.media.segment import SegmentWriter
from hw.camera.sim import read_frame_counter
from tests.harness import camera_packets
from tests.mp4tools import is_plain_faststart

FPS = 30


def _clips(folder: Path, seconds: float, cut_every: int, fps: int = FPS) -> list[tuple[Path, int]]:
    info, packets = camera_packets(seconds, fps=fps)
    keyframes = [i for i, p in enumerate(packets) if p.keyframe]
    cuts = keyframes[::cut_every]
    out = []
    for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        path = folder / f"{folder.name}-{n}.mp4"
        writer = SegmentWriter(str(path), info, packets[a], max_fragment_s=1.5)
        for packet in packets[a + 1 : b]:
            writer.write(packet)
        writer.close()
        out.append((path, a))
    return out


def _counters(path: Path) -> list[int]:
    with av.open(str(path)) as container:
        return [read_frame_counter(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def test_an_incident_exports_to_one_plain_mp4_with_every_frame_once(tmp_path) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    clips = _clips(folder, 7.2, 2)  # three clips of two seconds
    assert len(clips) == 3
    out = tmp_path / "incident.mp4"
    frames = export_clips([str(p) for p, _ in clips], str(out))
    expected = [n for path, _ in clips for n in _counters(path)]
    assert frames == len(expected) == 180
    assert _counters(out) == expected
    assert is_plain_faststart(str(out))
    assert not is_plain_faststart(str(clips[0][0]))  # the clips themselves are fragmented
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.size]
    assert sorted(times) == pytest.approx([n / FPS for n in range(180)], abs=1e-3)
    assert not list(tmp_path.glob("*.tmp"))


def test_clips_that_do_not_match_are_refused_and_nothing_is_left(tmp_path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first = _clips(a, 2.2, 2)[0][0]
    other = _clips(b, 2.2, 2, fps=15)[0][0]  # another frame rate: another stream
    out = tmp_path / "x.mp4"
    with pytest.raises(ExportError, match="differs"):
        export_clips([str(first), str(other)], str(out))
    with pytest.raises(ExportError, match="no clips"):
        export_clips([], str(out))
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_the_index_is_written_first_in_one_pass_and_a_plain_input_still_exports(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    clips = [str(p) for p, _ in _clips(folder, 4.2, 2)]
    out = tmp_path / "once.mp4"
    frames = export_clips(clips, str(out))
    # Room kept for the index at the front: what it does not use is a free box after it
    # (a faststart rewrite moves the index up and leaves only its 8-byte free box).
    assert _boxes(out)[:3] == [b"ftyp", b"moov", b"free+"]
    # An export is no fragmented MP4: exporting it again takes the faststart way.
    again = tmp_path / "again.mp4"
    assert export_clips([str(out)], str(again)) == frames
    assert is_plain_faststart(str(again)) and _counters(again) == _counters(out)
    assert b"free+" not in _boxes(again)


def _boxes(path: Path) -> list[bytes]:
    """The top-level box types; a free box of more than its header is ``free+``."""
    with open(path, "rb") as fh:
        found = boxes(fh, 0, fh.seek(0, 2))
        return [
            kind + (b"+" if kind == b"free" and size > 8 else b"") for kind, _, _, size in found
        ]
