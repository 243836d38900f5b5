"""The simulated camera's parking features: a rate change while it runs, the grey motion
frames (the scene alone: no counter, clock or overlay), and the scripted scenes."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from appliance.overlay import Overlay
from appliance.ports import PTS_PER_SECOND
from hw.camera.base import MOTION_WIDTH, grey_thumbnail
from hw.camera.scenes import Flicker, MovingObject, StillScene
from hw.camera.sim import SimulatedCamera
from tests.harness import wait_until


class Collect:
    """Packets (or motion frames) with an Event set once ``count`` have come."""

    def __init__(self, count: int) -> None:
        self.items: list = []
        self.count = count
        self.enough = threading.Event()

    def __call__(self, *item) -> None:
        self.items.append(item[0] if len(item) == 1 else item)
        if len(self.items) >= self.count:
            self.enough.set()


def test_a_rate_change_gives_a_keyframe_at_the_new_rate_and_loses_no_frame():
    cam = SimulatedCamera(width=320, height=240, fps=30, bitrate=2_000_000, realtime=False)
    packets = Collect(90)
    cam.start(packets)
    try:
        assert wait_until(lambda: len(packets.items) >= 30, 20)
        assert cam.set_video_rate(5, 200_000)
        assert packets.enough.wait(30)
    finally:
        cam.stop()
    got = packets.items
    assert [p.frame_index for p in got] == list(range(len(got)))
    gaps = np.diff([p.pts_us for p in got])
    assert (gaps > 0).all()
    slow = [i for i, g in enumerate(gaps) if g >= PTS_PER_SECOND // 5]
    assert slow, "no frame came at the new rate"
    first_slow = slow[0] + 1
    assert got[first_slow].keyframe, "the first frame at the new rate is not a keyframe"
    assert (gaps[: slow[0] - 1] < PTS_PER_SECOND // 25).all()
    assert (gaps[slow[0] :] == PTS_PER_SECOND // 5).all()
    assert cam.video_rate == (5, 200_000)


def test_a_rate_out_of_bounds_is_refused_and_changes_nothing():
    cam = SimulatedCamera(width=320, height=240, fps=30, realtime=False)
    with pytest.raises(ValueError, match="fps"):
        cam.set_video_rate(0, 1_000_000)
    with pytest.raises(ValueError, match="bitrate"):
        cam.set_video_rate(5, 10)
    assert cam.video_rate == (30, 2_000_000)


def test_motion_frames_show_the_scene_without_counter_clock_or_overlay():
    overlay = Overlay(320, 240, time_format="%H:%M:%S.%f")
    cam = SimulatedCamera(
        width=320, height=240, fps=10, scene=StillScene(), overlay=overlay, realtime=False
    )
    frames = Collect(6)
    cam.set_motion_sink(frames, fps=2)
    cam.start(lambda packet: None)
    try:
        assert frames.enough.wait(30)
    finally:
        cam.stop()
    greys = [grey for grey, _pts in frames.items]
    assert greys[0].shape == (240 // 2, MOTION_WIDTH)
    assert all(np.array_equal(greys[0], g) for g in greys[1:]), "a still scene changed"
    pts = [p for _g, p in frames.items]
    assert (np.diff(pts) == PTS_PER_SECOND // 2).all(), "not two motion frames a second"


def test_a_moving_object_changes_the_motion_frames_from_the_frame_it_appears_in():
    scene = MovingObject(appears_at_s=1.0)
    cam = SimulatedCamera(width=320, height=240, fps=10, scene=scene, realtime=False)
    frames = Collect(12)
    cam.set_motion_sink(frames, fps=5)
    cam.start(lambda packet: None)
    try:
        assert frames.enough.wait(30)
    finally:
        cam.stop()
    assert scene.appeared_index == 10
    before = [g for g, pts in frames.items if pts - frames.items[0][1] < PTS_PER_SECOND]
    after = [g for g, pts in frames.items if pts - frames.items[0][1] >= PTS_PER_SECOND]
    assert all(np.array_equal(before[0], g) for g in before)
    assert all(np.abs(g.astype(int) - before[0]).max() > 100 for g in after)


def test_a_flicker_changes_the_whole_picture_and_no_sink_means_no_motion_work():
    cam = SimulatedCamera(width=320, height=240, fps=10, scene=Flicker(0.4, 40), realtime=False)
    frames = Collect(4)
    cam.set_motion_sink(frames, fps=5)
    cam.start(lambda packet: None)
    try:
        assert frames.enough.wait(30)
        cam.set_motion_sink(None)
        stopped_at = cam.motion_frames
        seen = Collect(20)
        cam._on_packet = seen  # noqa: SLF001 - count frames after the sink went
        assert seen.enough.wait(30)
    finally:
        cam.stop()
    a, b = frames.items[0][0].astype(int), frames.items[1][0].astype(int)
    assert abs(float(np.median(a - b))) >= 30, "the flicker did not brighten the picture"
    assert cam.motion_frames <= stopped_at + 1


def test_grey_thumbnail_is_the_mean_of_whole_blocks():
    luma = np.arange(720 * 1280, dtype=np.uint32).reshape(720, 1280) % 256
    small = grey_thumbnail(luma.astype(np.uint8))
    assert small.shape == (90, 160)
    assert small[3, 7] == int(luma[24:32, 56:64].mean())
