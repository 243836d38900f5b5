"""The virtual progressive MP4 (appliance/media/progressive.py) of real recorded clips, read by
ffprobe and PyAV as any file would be."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import av
import pytest

from appliance.media.fragments import LayoutError, read_layout
from appliance.media.progressive import ProgressiveCache, build
from appliance.media.segment import SegmentWriter
from hw.camera.sim import read_frame_counter
from tests.harness import camera_packets, three_clips

FPS = 30


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[Path, list[int]]]:
    """Three 3-second clips cut at keyframes (:func:`tests.harness.three_clips`)."""
    return three_clips(tmp_path_factory.mktemp("clips"), FPS)


def whole(plan, tmp_path: Path, name: str = "virtual.mp4") -> Path:
    out = tmp_path / name
    out.write_bytes(plan.read(0, plan.length))
    return out


def counters(path: Path) -> tuple[list[int], list[float]]:
    """The burned-in counter and the time of every frame PyAV decodes from ``path``."""
    out, times = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(read_frame_counter(frame.to_ndarray(format="rgb24")))
            times.append(float(frame.time))
    return out, times


def ffprobe(path: Path) -> dict:
    run = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-show_format", "-show_streams"]
        + ["-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout)


needs_ffprobe = pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe is missing (apt: ffmpeg)"
)


@needs_ffprobe
def test_ffprobe_reads_a_clips_whole_duration_from_an_ordinary_mp4(clips, tmp_path) -> None:
    path, frames = clips[0]
    plan = build([str(path)])
    out = whole(plan, tmp_path)
    info = ffprobe(out)
    [stream] = info["streams"]
    assert float(info["format"]["duration"]) == pytest.approx(len(frames) / FPS, abs=1e-3)
    assert float(stream["duration"]) == pytest.approx(len(frames) / FPS, abs=1e-3)
    assert int(stream["nb_read_packets"]) == len(frames) == plan.frames
    assert info["format"]["format_name"].startswith("mov,mp4")
    # An ordinary file: its index first, no fragments, one mdat after it.
    top = out.read_bytes()
    assert top[4:8] == b"ftyp" and b"moof" not in top[: len(plan.header)]
    assert top.find(b"moov") < top.find(b"mdat") < len(plan.header)


@needs_ffprobe
def test_three_clips_are_one_video_every_frame_once_in_order(clips, tmp_path) -> None:
    plan = build([str(p) for p, _ in clips])
    expected = [n for _, frames in clips for n in frames]
    out = whole(plan, tmp_path)
    assert float(ffprobe(out)["format"]["duration"]) == pytest.approx(len(expected) / FPS, 1e-3)
    got, times = counters(out)
    assert got == expected
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), "times go back"
    assert plan.starts_s == pytest.approx((0.0, 3.0, 6.0), abs=1e-3)
    assert plan.durations_s == pytest.approx((3.0, 3.0, 3.0), abs=1e-3)
    assert plan.duration_s == pytest.approx(read_layout(str(clips[0][0])).duration_s * 3, 1e-6)


def test_a_seek_into_the_last_clip_lands_on_its_keyframe(clips, tmp_path) -> None:
    plan = build([str(p) for p, _ in clips])
    out = whole(plan, tmp_path)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        container.seek(int(7.5 / stream.time_base), stream=stream, backward=True)
        frame = next(container.decode(stream))
        counter = read_frame_counter(frame.to_ndarray(format="rgb24"))
    # The keyframe at or before 7.5 s: the last clip's second keyframe, 7 s in.
    assert counter == clips[2][1][FPS]
    assert float(frame.time) == pytest.approx(7.0, abs=1e-3)


def test_any_byte_range_equals_the_same_bytes_of_a_full_read(clips) -> None:
    plan = build([str(p) for p, _ in clips])
    full = plan.read(0, plan.length)
    assert len(full) == plan.length
    edges = [0, 1, len(plan.header) - 1, len(plan.header), len(plan.header) + 1, plan.length - 1]
    for piece in plan.pieces:
        edges += [piece.at - 1, piece.at, piece.at + piece.size - 1, piece.at + piece.size]
    rng = random.Random(20)
    edges += [rng.randrange(plan.length) for _ in range(200)]
    for first in edges:
        for size in (1, 7, 4096, 300_000):
            end = min(plan.length, first + size)
            assert plan.read(first, end) == full[first:end], (first, size)
    assert plan.read(plan.length, plan.length + 10) == b""


def test_no_byte_of_the_clips_is_copied_into_the_plan(clips) -> None:
    plan = build([str(p) for p, _ in clips])
    media = sum(p.stat().st_size for p, _ in clips)
    assert len(plan.header) < 20_000  # the index: about 16 bytes a frame
    assert sum(piece.size for piece in plan.pieces) == plan.length - len(plan.header)
    assert plan.length < media  # the clips' headers and moofs are left out


def test_a_clip_of_another_stream_or_no_mp4_is_left_out_and_named(clips, tmp_path) -> None:
    info, packets = camera_packets(1.2, fps=15)  # another frame rate: another stsd
    other = tmp_path / "other.mp4"
    writer = SegmentWriter(str(other), info, packets[0])
    for packet in packets[1:]:
        writer.write(packet)
    writer.close()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 1000)
    paths = [str(clips[0][0]), str(other), str(junk), str(clips[1][0])]
    plan = build(paths)
    assert plan.sources == (str(clips[0][0]), str(clips[1][0]))
    assert set(plan.left_out) == {str(other), str(junk)}
    got, _ = counters(whole(plan, tmp_path))
    assert got == clips[0][1] + clips[1][1]
    with pytest.raises(LayoutError):
        build([str(junk)])


def test_a_torn_last_fragment_is_left_out(clips, tmp_path) -> None:
    path, frames = clips[0]
    torn = tmp_path / "torn.mp4"
    data = path.read_bytes()
    last = read_layout(str(path)).fragments[-1]
    torn.write_bytes(data[: last.offset + last.size // 2])
    plan = build([str(torn)])
    got, _ = counters(whole(plan, tmp_path))
    assert got == frames[: len(got)] and len(got) == len(frames) - last.samples


def test_the_cache_keeps_a_plan_while_its_clips_stay_and_makes_it_again_after(
    clips, tmp_path
) -> None:
    copy = tmp_path / "copy.mp4"
    shutil.copy(clips[0][0], copy)
    cache = ProgressiveCache(max_plans=2)
    plan, keys = cache.get([str(copy)])
    again, _ = cache.get([str(copy)])
    assert again is plan
    shutil.copy(clips[1][0], tmp_path / "other.mp4")
    (tmp_path / "other.mp4").replace(copy)  # another file under the same name
    changed, new_keys = cache.get([str(copy)])
    assert changed is not plan and new_keys != keys
    copy.unlink()
    with pytest.raises(LayoutError):
        cache.get([str(copy)])
