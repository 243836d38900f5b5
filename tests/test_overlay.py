"""The overlay: text pixels only, cached per text, in the corner and zone asked for."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pytest

from appliance.overlay import C_GREY, Y_BLACK, Y_WHITE, Overlay
from tests.overlay_fixtures import only_in, stamp_luma

WALL_S = 1_790_000_000.4  # 2026-09-21 14:13:20 UTC


def _frame(width: int, height: int, y_value: int = 90) -> tuple[np.ndarray, ...]:
    y = np.full((height, width), y_value, np.uint8)
    u = np.full((height // 2, width // 2), 60, np.uint8)
    v = np.full((height // 2, width // 2), 200, np.uint8)
    return y, u, v


def test_only_the_text_and_its_outline_change() -> None:
    overlay = Overlay(640, 360, time_zone=dt.UTC)
    y, u, v = _frame(640, 360)
    stamp = overlay.draw(y, u, v, WALL_S)
    assert stamp.text == "2026-09-21 14:13:20"
    changed = y != 90
    assert changed.sum() == len(stamp.fill_rows) + len(stamp.edge_rows) > 200
    assert (y[stamp.fill_rows, stamp.fill_cols] == Y_WHITE).all()
    assert (y[stamp.edge_rows, stamp.edge_cols] == Y_BLACK).all()
    # the chroma is grey exactly under the text, untouched elsewhere
    grey = u == C_GREY
    assert grey.sum() == len(stamp.chroma_rows) and (v[grey] == C_GREY).all()
    assert (u[~grey] == 60).all() and (v[~grey] == 200).all()
    # bottom-left corner by default
    rows, cols = np.nonzero(changed)
    assert rows.min() > 360 * 0.8 and cols.min() < 40 and cols.max() < 640 * 0.7


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-right"])
def test_the_text_sits_in_the_corner_asked_for(position: str) -> None:
    overlay = Overlay(640, 360, position=position, time_zone=dt.UTC)
    y, u, v = _frame(640, 360)
    overlay.draw(y, u, v, WALL_S)
    rows, cols = np.nonzero(y != 90)
    assert (rows.max() < 60) == position.startswith("top")
    assert (cols.max() > 600) == position.endswith("right")


def test_the_clock_follows_the_time_zone_and_the_format() -> None:
    berlin = Overlay(640, 360, time_zone=zoneinfo.ZoneInfo("Europe/Berlin"))
    assert berlin.text(WALL_S) == "2026-09-21 16:13:20"
    us = Overlay(640, 360, time_format="%m/%d/%Y %I:%M:%S %p", time_zone=dt.UTC)
    assert us.text(WALL_S, "52 km/h") == "09/21/2026 02:13:20 PM  52 km/h"


def test_a_second_renders_once_and_the_next_second_renders_again() -> None:
    overlay = Overlay(640, 360, time_zone=dt.UTC)
    first = overlay.stamp(overlay.text(WALL_S))
    assert overlay.stamp(overlay.text(WALL_S + 0.5)) is first
    later = overlay.stamp(overlay.text(WALL_S + 1))
    assert later is not first and later.text.endswith(":21")


def test_an_i420_buffer_with_a_stride_is_drawn_like_separate_planes() -> None:
    width, height, stride = 320, 240, 384
    overlay = Overlay(width, height, time_zone=dt.UTC)
    buf = np.zeros((height * 3 // 2, stride), np.uint8)
    buf[:] = 90
    overlay.draw_i420(buf, WALL_S)
    y, u, v = _frame(width, height)
    overlay.draw(y, u, v, WALL_S)
    assert (buf[:height, :width] == y).all()
    assert (buf[:height, width:] == 90).all()  # the padding is left alone
    flat = buf.reshape(-1)
    u_plane = flat[height * stride : height * stride + (height // 2) * (stride // 2)]
    u_plane = u_plane.reshape(height // 2, stride // 2)[:, : width // 2]
    assert ((u_plane == C_GREY) == (u == C_GREY)).all()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="position"):
        Overlay(640, 360, position="middle")
    with pytest.raises(ValueError, match="even"):
        Overlay(641, 360)
    with pytest.raises(ValueError, match="I420"):
        Overlay(64, 48).draw_i420(np.zeros((48, 64), np.uint8), WALL_S)


def test_the_simulated_camera_burns_in_each_frames_own_time() -> None:
    """Decode the frames: each shows the stamp of its own second (known from its frame
    counter), not the next one's."""
    from hw.camera.sim import SimulatedCamera, read_frame_counter
    from tests.camera_fixtures import Collector, decode_packets

    fps, wall0 = 30, float(int(WALL_S)) + 0.5  # the second changes at frame 15
    overlay = Overlay(640, 360, time_zone=dt.UTC)
    camera = SimulatedCamera(
        width=640, height=360, fps=fps, bitrate=2_000_000, realtime=False,
        overlay=overlay, wall=lambda: wall0,
    )  # fmt: skip
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(75)
    finally:
        camera.stop()
    elsewhere: list[int] = []  # luma where another second's digits would be
    decoded = decode_packets(collector.snapshot()[:75])
    for _, frame in decoded:
        y = frame.to_ndarray(format="gray")
        index = read_frame_counter(frame.to_ndarray(format="rgb24"))
        own = overlay.stamp(overlay.text(wall0 + index / fps))
        fill, edge = stamp_luma(y, own)
        assert fill > 190 and edge < 70, (index, fill, edge)
        # The next second's digits are not there where they differ from this second's.
        other = overlay.stamp(overlay.text(wall0 + index / fps + 1))
        rows, cols = only_in(other, own)
        assert rows and y[rows, cols].mean() < 150, index
        elsewhere.extend(y[rows, cols].tolist())
    assert len(decoded) >= 70
    assert len(elsewhere) > 300 and np.mean(elsewhere) < 100


def test_the_simulated_picture_gets_its_background_back_under_an_old_stamp() -> None:
    """When the second changes, the simulation puts back what the old text covered (the
    Pi's frames are new from the sensor each time; the simulation draws into one frame)."""
    import av

    from hw.camera.sim import TestPattern

    pattern = TestPattern(640, 360, "sim", 30)
    frame = av.VideoFrame(640, 360, "yuv420p")
    pattern.attach(frame)
    before = [plane.copy() for plane in (pattern.y, pattern.u, pattern.v)]
    overlay = Overlay(640, 360, time_zone=dt.UTC)
    stamp = overlay.draw(pattern.y, pattern.u, pattern.v, WALL_S)
    assert not np.array_equal(pattern.y, before[0])
    pattern.restore(stamp)
    for plane, was in zip((pattern.y, pattern.u, pattern.v), before, strict=True):
        assert np.array_equal(plane, was)
