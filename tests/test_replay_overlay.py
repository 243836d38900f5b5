"""The replay camera with the overlay: each frame decoded, drawn on and encoded again.

Without the overlay the replay camera stays a stream copy, byte for byte. (The camera
contract suite runs it both ways: ``replay`` and ``replay-overlay``.)
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import av
import numpy as np
import pytest

from appliance.config import Config
from appliance.overlay import Overlay, Stamp
from appliance.ports import EncodedPacket
from hw.app import make_camera
from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SPS, nal_types
from hw.camera.replay import ReplayCamera
from hw.camera.sim import read_frame_counter
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    decode_packets,
    jpeg_image,
    make_sim_mp4,
    write_mp4,
)
from tests.overlay_fixtures import stamp_luma

WALL_S = 1_790_000_000  # 2026-09-21 14:13:20 UTC
SIZE = (640, 480)


class SteppingClock:
    """A wall clock that moves on ``step_s`` at each reading and keeps what it gave."""

    def __init__(self, start_s: float, step_s: float) -> None:
        self.start_s, self.step_s = start_s, step_s
        self.readings: list[float] = []

    def __call__(self) -> float:
        value = self.start_s + len(self.readings) * self.step_s
        self.readings.append(value)
        return value


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of the simulated picture, 640x480, 30 fps, a keyframe every 15 frames."""
    return make_sim_mp4(
        tmp_path_factory.mktemp("replay") / "source.mp4", frames=60, width=SIZE[0], height=SIZE[1]
    )


def play_to_end(camera: ReplayCamera, collector: Collector | None = None) -> list[EncodedPacket]:
    """Start a camera made with ``loop=False``; its packets once the file ended."""
    collector = collector or Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert camera.ended.wait(30.0), "the replay did not reach the end of its file"
    finally:
        camera.stop()
    assert not collector.errors
    return collector.snapshot()


def luma_frames(path: Path) -> list[np.ndarray]:
    """The luma of every picture of an MP4, decoded by PyAV from the file."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def samples(path: Path) -> list[bytes]:
    """The video samples of an MP4, as stored."""
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def text_free(other: Stamp, own: Stamp) -> tuple[np.ndarray, np.ndarray]:
    """The text pixels of ``other`` that ``own`` (text or outline) leaves alone."""
    taken = set(zip(own.fill_rows, own.fill_cols, strict=True))
    taken |= set(zip(own.edge_rows, own.edge_cols, strict=True))
    left = [p for p in zip(other.fill_rows, other.fill_cols, strict=True) if p not in taken]
    return np.array([r for r, _ in left], np.intp), np.array([c for _, c in left], np.intp)


def gps_text(wall_s: float) -> str:
    """Speed and position in even seconds, nothing in odd ones (a fix coming and going)."""
    return "52 km/h  N52.51234 E13.38901" if int(wall_s) % 2 == 0 else ""


def test_the_replay_camera_burns_in_each_frames_own_time(source: Path, tmp_path: Path) -> None:
    """Must show: the replayed clip, muxed to an MP4 and decoded, shows in each frame the
    rendering of the time the camera's wall clock gave at that frame's delivery (and the
    GPS text of that moment). Where the second before or after would have put its text,
    the file's own picture is left: a frame's text does not leak into the next frames
    through the decoder's references, nor comes early."""
    overlay = Overlay(*SIZE, time_zone=dt.UTC)
    clock = SteppingClock(WALL_S + 0.55, 0.1)  # a new second every 10 frames
    overlay.extra = lambda: gps_text(clock.readings[-1])  # read after the frame's clock
    camera = ReplayCamera(source, realtime=False, loop=False, overlay=overlay, wall=clock)
    packets = play_to_end(camera)
    assert len(packets) == 60
    assert len(clock.readings) == 60, "the wall clock is read once per frame"
    clip = write_mp4(tmp_path / "clip.mp4", packets, *SIZE, 30)
    replayed, original = luma_frames(clip), luma_frames(source)
    assert len(replayed) == len(original) == 60
    with av.open(str(clip)) as container:
        counters = [read_frame_counter(f.to_ndarray(format="rgb24")) for f in container.decode()]
    assert counters == list(range(60)), "not the file's pictures, in order"
    overlay.extra = None  # the expected texts are made here, with each frame's own extra
    checked = 0
    for i, (y, was) in enumerate(zip(replayed, original, strict=True)):
        wall_s = clock.readings[i]
        own = overlay.stamp(overlay.text(wall_s, gps_text(wall_s)))
        assert own.text.startswith("2026-09-21 14:13:2")
        fill, edge = stamp_luma(y, own)
        assert fill > 180 and edge < 80, (i, own.text, fill, edge)
        others = [overlay.stamp(overlay.text(wall_s + k, gps_text(wall_s + k))) for k in (-1, 1)]
        free = [text_free(other, own) for other in others]
        rows, cols = (np.concatenate([f[k] for f in free]) for k in (0, 1))
        diff = np.abs(y[rows, cols].astype(int) - was[rows, cols].astype(int))
        assert diff.mean() < 25, (i, own.text, diff.mean())
        checked += len(rows)
        # and away from the text, the picture is the file's (re-encoding loses little)
        above = slice(0, own.edge_rows.min() - 4)
        assert np.abs(y[above].astype(int) - was[above].astype(int)).mean() < 3, i
    assert checked > 60 * 200


def test_without_an_overlay_the_packets_are_the_files_own_bytes(
    source: Path, tmp_path: Path
) -> None:
    camera = ReplayCamera(source, realtime=False, loop=False)
    assert camera.overlay is None
    packets = play_to_end(camera)
    copy = write_mp4(tmp_path / "copy.mp4", packets, *SIZE, 30)
    assert samples(copy) == samples(source)


def test_the_overlay_does_change_the_bytes(source: Path, tmp_path: Path) -> None:
    """The counterpart of the stream copy: with the overlay the samples are new."""
    camera = ReplayCamera(source, realtime=False, loop=False, overlay=Overlay(*SIZE))
    clip = write_mp4(tmp_path / "clip.mp4", play_to_end(camera), *SIZE, 30)
    assert len(samples(clip)) == 60
    assert not set(samples(clip)) & set(samples(source))


def test_keyframes_stay_where_the_file_has_them_across_the_loop(source: Path) -> None:
    camera = ReplayCamera(source, realtime=False, loop=True, overlay=Overlay(*SIZE))
    assert camera.keyframe_interval_s == pytest.approx(0.5, abs=0.002)
    collector = Collector(keep=150)
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(150, 30.0)
    finally:
        camera.stop()
    keys = [p.frame_index for p in collector.snapshot() if p.keyframe]
    assert keys == list(range(0, 150, 15))


@pytest.mark.parametrize("with_overlay", [True, False])
def test_a_keyframe_request_is_honoured_by_the_next_frame_with_the_overlay(
    tmp_path: Path, with_overlay: bool
) -> None:
    """Asked between two frames (from the packet sink, on the camera thread), the next
    frame is an IDR with its SPS/PPS. Without the overlay only the file's keyframes come."""
    one_keyframe = make_sim_mp4(tmp_path / "one_keyframe.mp4", 60, *SIZE, keyframe_interval_s=2)
    overlay = Overlay(*SIZE) if with_overlay else None
    camera = ReplayCamera(one_keyframe, realtime=False, loop=False, overlay=overlay)
    asked = {10, 25, 26, 40}
    collector = Collector()

    def on_packet(packet: EncodedPacket) -> None:
        collector.on_packet(packet)
        if packet.frame_index in asked:
            camera.request_keyframe()

    camera.start(on_packet, collector.on_error)
    try:
        assert camera.ended.wait(30.0)
    finally:
        camera.stop()
    assert not collector.errors
    packets = collector.snapshot()
    keys = [p.frame_index for p in packets if p.keyframe]
    if not with_overlay:
        assert keys == [0]
        assert camera.max_keyframe_delay_s == pytest.approx(2.0, abs=0.002)
        return
    assert camera.max_keyframe_delay_s == pytest.approx(2 / 30)
    assert keys == [0, 11, 26, 27, 41]
    for packet in packets:
        types = nal_types(packet.data)
        assert packet.keyframe == (NAL_IDR in types), packet.frame_index
        if packet.keyframe:
            assert NAL_SPS in types and NAL_PPS in types, packet.frame_index
    assert len(decode_packets(packets)) == 60  # one picture per packet, none held back


def test_a_still_and_the_preview_show_the_overlay_with_its_extra_text(source: Path) -> None:
    overlay = Overlay(*SIZE, time_zone=dt.UTC)
    overlay.extra = lambda: "52 km/h"  # as App.overlay_extra gives it from the GPS
    wall_s = WALL_S + 0.5
    camera = ReplayCamera(
        source, realtime=True, overlay=overlay, wall=lambda: wall_s,
        preview_width=SIZE[0], preview_height=SIZE[1],
    )  # fmt: skip
    collector = Collector()
    previews = JpegCollector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        still = camera.capture_still(timeout_s=5.0)
        camera.set_preview_sink(previews)
        assert previews.wait_for_count(2)
    finally:
        camera.stop()
    assert not collector.errors
    stamp = overlay.stamp(overlay.text(wall_s))
    assert stamp.text == "2026-09-21 14:13:20  52 km/h"
    for jpeg in (still, previews.items[0][0], previews.items[1][0]):
        image = jpeg_image(jpeg)
        assert image.size == SIZE
        fill, edge = stamp_luma(np.asarray(image.convert("L")), stamp)
        assert fill > 180 and edge < 80, (fill, edge)
    pts = {p.pts_us for p in collector.snapshot()}
    assert all(pts_us in pts for _, pts_us, _ in previews.items)


def test_a_broken_wall_clock_never_stops_the_replay(
    source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The text cannot be made (the clock gives NaN): each frame goes out without it, and
    the failure is logged once."""
    camera = ReplayCamera(
        source, realtime=False, loop=False, overlay=Overlay(*SIZE), wall=lambda: math.nan
    )
    with caplog.at_level(logging.ERROR, logger="hw.camera.replay"):
        packets = play_to_end(camera)
    assert len(packets) == 60
    assert sum("the overlay cannot be drawn" in r.message for r in caplog.records) == 1
    original = luma_frames(source)
    for (_, frame), was in zip(decode_packets(packets), original, strict=True):
        y = frame.to_ndarray(format="gray")
        assert np.abs(y.astype(int) - was.astype(int)).mean() < 3


def test_an_overlay_of_another_size_is_refused(source: Path) -> None:
    with pytest.raises(ValueError, match=r"overlay is for 640x360 pictures, source.mp4 is 640x480"):
        ReplayCamera(source, overlay=Overlay(640, 360))
    camera = ReplayCamera(source)
    with pytest.raises(ValueError, match="640x480"):
        camera.overlay = Overlay(320, 240)
    assert camera.overlay is None


@pytest.mark.parametrize("overlay", [True, False])
def test_the_composition_root_gives_the_replay_camera_the_overlay_for_its_files_size(
    tmp_path: Path, overlay: bool
) -> None:
    wide = make_sim_mp4(tmp_path / "wide.mp4", frames=10, width=640, height=360)
    config = Config(
        storage_root=str(tmp_path / "card"), camera="replay", replay_path=str(wide),
        video_width=1280, video_height=720, overlay=overlay, time_zone="Europe/Berlin",
    )  # fmt: skip
    camera = make_camera("replay", config)
    assert isinstance(camera, ReplayCamera)
    if not overlay:
        assert camera.overlay is None  # the stream copy
        return
    assert (camera.overlay.width, camera.overlay.height) == (640, 360)  # the file's size
    assert camera.overlay.text(WALL_S) == "2026-09-21 16:13:20"
