"""The simulated camera: its picture, its encoder settings, its argument checks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SPS, nal_types, parameter_sets
from hw.camera.sim import SimulatedCamera, read_frame_counter
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    decode_packets,
    jpeg_image,
    record_sim,
    rgb,
)


@pytest.mark.parametrize(("width", "height", "frames"), [(320, 240, 90), (1280, 720, 45)])
def test_counter_bar_reads_back_every_frame(width: int, height: int, frames: int) -> None:
    packets = record_sim(frames, width, height, keyframe_interval_s=1.0)
    decoded = decode_packets(packets)
    assert [index for index, _ in decoded] == list(range(frames))
    read = [read_frame_counter(rgb(frame)) for _, frame in decoded]
    assert read == list(range(frames))


def test_counter_bar_survives_scaling() -> None:
    (_, frame), *_ = decode_packets(record_sim(1, 1280, 720))
    for width, height in [(320, 240), (640, 360), (2592, 1944)]:
        scaled = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
        assert read_frame_counter(scaled) == 0


def test_counter_bar_rejects_a_picture_without_bar() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        read_frame_counter(np.full((240, 320, 3), 128, np.uint8))


def test_clock_and_box_change_between_frames() -> None:
    camera = SimulatedCamera(width=320, height=240, fps=30, realtime=False)
    decoded = dict(decode_packets(record_sim(7, 320, 240)))
    x0, y0, x1, y1 = camera.pattern.clock_rect
    first, later = rgb(decoded[0]), rgb(decoded[6])  # 0.2 s apart: the tenths digit moves
    diff = np.abs(first[y0:y1, x0:x1].astype(int) - later[y0:y1, x0:x1].astype(int))
    assert diff.mean() > 1.0, "clock did not change"

    bx0, by0, bx1, by1 = camera.pattern.box_rect(6)
    assert bx0 > camera.pattern.box_rect(0)[0]
    inner = (slice(by0 + 2, by1 - 2), slice(bx0 + 2, bx1 - 2))
    box_now = later[inner].reshape(-1, 3).mean(axis=0)
    box_before = first[inner].reshape(-1, 3).mean(axis=0)
    assert box_now[0] > 200 and box_now[2] < 80, f"no orange box at its place: {box_now}"
    assert box_before[0] < 100, f"box area not background in frame 0: {box_before}"


def test_keyframes_are_idr_with_inline_headers_and_one_packet_per_frame() -> None:
    packets = record_sim(40, keyframe_interval_s=0.5)
    keys = [p.frame_index for p in packets if p.keyframe]
    assert keys == [0, 15, 30]
    for p in packets:
        types = nal_types(p.data)
        assert (NAL_IDR in types) == p.keyframe
        assert (NAL_SPS in types and NAL_PPS in types) == p.keyframe
    assert parameter_sets(packets[0].data) == parameter_sets(packets[15].data)


def test_forced_keyframe_is_an_idr() -> None:
    camera = SimulatedCamera(width=320, height=240, keyframe_interval_s=10.0, realtime=False)
    collector = Collector()
    requested_at: list[int] = []

    def on_packet(packet) -> None:
        collector.on_packet(packet)
        if packet.frame_index == 10:
            camera.request_keyframe()
            requested_at.append(packet.frame_index)

    camera.start(on_packet, collector.on_error)
    assert collector.wait_for_count(20)
    camera.stop()
    keys = [p for p in collector.snapshot() if p.keyframe]
    assert [p.frame_index for p in keys] == [0, 11]
    assert NAL_IDR in nal_types(keys[1].data) and parameter_sets(keys[1].data)
    # and the picture after it still decodes in order
    decoded = decode_packets(collector.snapshot()[:20])
    assert [read_frame_counter(rgb(f)) for _, f in decoded] == list(range(20))


def test_still_shows_a_delivered_frame_at_the_still_size() -> None:
    camera = SimulatedCamera(
        width=320, height=240, still_width=640, still_height=480, realtime=True
    )
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
        asked_after = collector.count - 1
        still = jpeg_image(camera.capture_still())
        assert still.size == (640, 480)
        shown = read_frame_counter(np.asarray(still.convert("RGB")))
        assert asked_after <= shown < collector.count + 1
    finally:
        camera.stop()


def test_preview_shows_the_frame_of_its_pts() -> None:
    camera = SimulatedCamera(
        width=320, height=240, preview_width=320, preview_height=240, realtime=True
    )
    collector = Collector()
    sink = JpegCollector()
    camera.set_preview_sink(sink)
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert sink.wait_for_count(3)
    finally:
        camera.stop()
    by_pts = {p.pts_us: p.frame_index for p in collector.snapshot()}
    for jpeg, pts_us, _ in sink.items:
        shown = read_frame_counter(np.asarray(jpeg_image(jpeg).convert("RGB")))
        assert shown == by_pts[pts_us]


def test_realtime_catches_up_without_skipping() -> None:
    camera = SimulatedCamera(width=320, height=240, fps=30, realtime=True)
    collector = Collector()
    arrivals: list[float] = []
    stall = threading.Event()

    def on_packet(packet) -> None:
        arrivals.append(time.monotonic())
        if packet.frame_index == 3:
            stall.wait(0.2)  # a late machine: six frame intervals lost here
        collector.on_packet(packet)

    camera.start(on_packet, collector.on_error)
    assert collector.wait_for_count(20)
    camera.stop()
    packets = collector.snapshot()
    assert [p.frame_index for p in packets] == list(range(len(packets)))
    burst = [b - a for a, b in zip(arrivals[4:8], arrivals[5:9], strict=False)]
    assert max(burst) < 0.5 / 30, f"no catch-up burst after the stall: {burst}"
    on_schedule_s = arrivals[19] - arrivals[0]
    assert abs(on_schedule_s - 19 / 30) < 0.1, on_schedule_s


def test_encodes_as_fast_as_possible_when_not_realtime() -> None:
    camera = SimulatedCamera(width=320, height=240, fps=30, realtime=False)
    collector = Collector()
    started = time.monotonic()
    camera.start(collector.on_packet, collector.on_error)
    assert collector.wait_for_count(90)
    camera.stop()
    assert time.monotonic() - started < 90 / 30 / 2


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"width": 321}, "width"),
        ({"width": 160}, "width"),
        ({"height": 241}, "height"),
        ({"fps": 0}, "fps"),
        ({"fps": 121}, "fps"),
        ({"bitrate": 0}, "bitrate"),
        ({"keyframe_interval_s": 0.01}, "keyframe_interval_s"),
        ({"still_width": 641}, "still_width"),
        ({"preview_height": 3}, "preview_height"),
        ({"preview_fps": 0}, "preview_fps"),
        ({"preview_fps": 31}, "preview_fps"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} "):
        SimulatedCamera(**kwargs)


def test_defaults() -> None:
    info = SimulatedCamera().info
    assert (info.width, info.height, info.fps) == (1280, 720, 30)
    assert (info.still_width, info.still_height) == (1280, 720)
    assert (info.preview_width, info.preview_height) == (640, 360)
