"""The camera contract (see ``appliance.ports.Camera``), run against every backend that loads.

To add a backend, write a factory ``make(request, *, realtime, fail_after_frames)`` that
returns an unstarted camera (or calls ``pytest.skip``) with a preview rate of
``PREVIEW_FPS``, and add it to ``FACTORIES``.

Besides the :class:`Camera` interface a backend declares, as attributes:

* ``keyframe_interval_s``: longest time between two keyframes;
* ``max_keyframe_delay_s``: longest time from ``request_keyframe()`` to a keyframe;
* ``preview_frames_encoded``: preview JPEGs encoded so far.

The error test also needs ``fail_after_frames=N``: deliver N frames, then fail as the
hardware would; a factory whose backend has no such hook skips that test.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from appliance.errors import CameraError
from appliance.overlay import Overlay
from appliance.ports import PTS_PER_SECOND, Camera, EncodedPacket
from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SPS, nal_types, parameter_sets, split_nal_units
from hw.camera.base import MOTION_WIDTH
from hw.camera.picamera2 import Picamera2Camera
from hw.camera.replay import ReplayCamera
from hw.camera.sim import SimulatedCamera
from tests import fake_libcamera, picamera2_standin
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    jpeg_image,
    poll_until,
    read_counter_of_jpeg,
    record_sim,
    write_mp4,
)

Factory = Callable[..., Camera]

pytestmark = [
    # The real picamera2's own, expected with the fake libcamera (test_picamera2_upstream).
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <function DmaAllocator.__del__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.filterwarnings(r"ignore:setDaemon\(\) is deprecated:DeprecationWarning"),
]

#: Every factory configures this preview rate.
PREVIEW_FPS = 10


def make_sim(
    request: pytest.FixtureRequest, *, realtime: bool, fail_after_frames: int | None = None
) -> Camera:
    return SimulatedCamera(
        width=320,
        height=240,
        fps=30,
        keyframe_interval_s=1.0,
        still_width=640,
        still_height=480,
        preview_width=160,
        preview_height=120,
        preview_fps=PREVIEW_FPS,
        realtime=realtime,
        name="sim-contract",
        fail_after_frames=fail_after_frames,
    )


def make_replay(
    request: pytest.FixtureRequest, *, realtime: bool, fail_after_frames: int | None = None
) -> Camera:
    path = request.getfixturevalue("replay_mp4")
    return ReplayCamera(
        path,
        realtime=realtime,
        loop=True,
        name="replay-contract",
        preview_width=160,
        preview_height=120,
        preview_fps=PREVIEW_FPS,
        fail_after_frames=fail_after_frames,
    )


def make_replay_overlay(
    request: pytest.FixtureRequest, *, realtime: bool, fail_after_frames: int | None = None
) -> Camera:
    """The replay camera with the overlay on: each frame decoded, drawn, encoded again."""
    camera = make_replay(request, realtime=realtime, fail_after_frames=fail_after_frames)
    camera.overlay = Overlay(camera.info.width, camera.info.height)
    return camera


#: How the stand-in's encoder hands over each IDR's SPS/PPS, by release: in a buffer of
#: their own (as the Pi's encoder does at low bit rates) from this source frame on, or
#: in-line (None). Before 0.3.27 that buffer is flagged as a keyframe; from 0.3.27 on
#: picamera2 drops it, and the IDR arrives without SPS/PPS (the first IDR keeps them).
SPLIT_HEADERS_FROM = {"0.3.16": 0, "0.3.22": 0, "0.3.31": 1, "0.3.38": None}


def make_picamera2(
    request: pytest.FixtureRequest,
    *,
    realtime: bool,
    fail_after_frames: int | None = None,
    release: str = picamera2_standin.CURRENT_RELEASE,
) -> Camera:
    # The stand-in picamera2 (tests/picamera2_standin) plays the replay file's packets
    # through its H264Encoder, as the given picamera2 release would hand them over; a
    # failure is the sensor going quiet, as with a loose cable.
    board = picamera2_standin.Board(
        source=request.getfixturevalue("replay_mp4"),
        realtime=realtime,
        fail_after_frames=fail_after_frames,
        release=release,
        split_headers_from=SPLIT_HEADERS_FROM[release],
    )
    picamera2_standin.install_for(request, board)
    pi = board.attach_v4l2(request.getfixturevalue("tmp_path_factory").mktemp("pi"))
    return Picamera2Camera(
        width=320,
        height=240,
        fps=30,
        keyframe_interval_s=1.0,
        preview_width=160,
        preview_height=120,
        preview_fps=PREVIEW_FPS,
        frame_timeout_s=1.0,
        name="picamera2-contract",
        sensor_subdevices=pi.subdevices(),
        # Not realtime, the stand-in's sensor runs far faster than any camera: queue all.
        packet_queue=None if realtime else 100_000,
    )


def make_picamera2_upstream(
    request: pytest.FixtureRequest, *, realtime: bool, fail_after_frames: int | None = None
) -> Camera:
    # The real picamera2 (dev extra) over the fake libcamera (tests/fake_libcamera), with
    # picamera2's software encoders; the sensor shows the replay file's pictures, always in
    # real time (a camera cannot go faster); a failure is the sensor going quiet.
    sensor = fake_libcamera.Sensor(
        pictures=request.getfixturevalue("replay_pictures"), fail_after_frames=fail_after_frames
    )
    pi = sensor.attach_v4l2(request.getfixturevalue("tmp_path_factory").mktemp("pi"))
    context = fake_libcamera.installed(sensor)
    context.__enter__()
    request.addfinalizer(lambda: context.__exit__(None, None, None))
    return Picamera2Camera(
        width=320,
        height=240,
        fps=30,
        keyframe_interval_s=1.0,
        preview_width=160,
        preview_height=120,
        preview_fps=PREVIEW_FPS,
        frame_timeout_s=1.0,
        name="picamera2-upstream-contract",
        sensor_subdevices=pi.subdevices(),
        software_encoder=True,
        allocator=fake_libcamera.memfd_allocator(),
    )


FACTORIES: dict[str, Factory] = {
    "sim": make_sim,
    "replay": make_replay,
    "replay-overlay": make_replay_overlay,
    "picamera2": make_picamera2,
    **{
        f"picamera2-{release}": functools.partial(make_picamera2, release=release)
        for release in picamera2_standin.RELEASES[:-1]
    },
    "picamera2-upstream": make_picamera2_upstream,
}


@pytest.fixture(scope="session")
def replay_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[EncodedPacket]]:
    """A 2 s, 320x240, 30 fps H.264 MP4 with a keyframe every 0.5 s, and its packets."""
    packets = record_sim(60, 320, 240, fps=30, keyframe_interval_s=0.5)
    path = write_mp4(tmp_path_factory.mktemp("replay") / "sim.mp4", packets, 320, 240, 30)
    return path, packets


@pytest.fixture(scope="session")
def replay_pictures(replay_mp4: Path) -> list:
    """The decoded pictures of ``replay_mp4`` (yuv420p), for the fake sensor."""
    return [frame.yuv for frame in picamera2_standin.load_source(replay_mp4)]


@pytest.fixture(scope="session")
def replay_mp4(replay_source: tuple[Path, list[EncodedPacket]]) -> Path:
    return replay_source[0]


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.upstream) if "upstream" in name else name
        for name in sorted(FACTORIES)
    ]
)
def make_camera(request: pytest.FixtureRequest):
    """``make_camera(realtime=..., fail_after_frames=...)``; every camera is stopped after."""
    factory = FACTORIES[request.param]
    cameras: list[Camera] = []

    def make(realtime: bool = False, fail_after_frames: int | None = None) -> Camera:
        camera = factory(request, realtime=realtime, fail_after_frames=fail_after_frames)
        cameras.append(camera)
        return camera

    yield make
    for camera in cameras:
        camera.stop()


def frame_us(camera: Camera) -> float:
    return PTS_PER_SECOND / camera.info.fps


def start(camera: Camera, keep: int = 100_000) -> Collector:
    collector = Collector(keep=keep)
    camera.start(collector.on_packet, collector.on_error)
    return collector


def assert_contiguous(packets) -> None:
    indices = [p.frame_index for p in packets]
    first = indices[0]
    assert indices == list(range(first, first + len(indices))), "frame_index skipped or repeated"


def test_info_is_valid_before_start(make_camera) -> None:
    info = make_camera().info
    assert info.name
    assert info.codec == "h264"
    assert info.width > 0 and info.height > 0 and info.width % 2 == 0 and info.height % 2 == 0
    assert 1 <= info.fps <= 120
    assert info.still_width > 0 and info.still_height > 0
    assert info.preview_width > 0 and info.preview_height > 0


def test_packets_in_order_first_keyframe(make_camera) -> None:
    camera = make_camera()
    collector = start(camera)
    assert collector.wait_for_count(100)
    camera.stop()
    packets = collector.snapshot()
    assert not collector.errors
    assert packets[0].keyframe
    assert packets[0].frame_index == 0
    assert_contiguous(packets)
    step = frame_us(camera)
    for a, b in zip(packets, packets[1:], strict=False):
        assert abs((b.pts_us - a.pts_us) - step) <= 1, (a.frame_index, b.pts_us - a.pts_us)
    for p in packets:
        types = nal_types(p.data)
        assert p.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")), "not Annex B"
        assert p.keyframe == (NAL_IDR in types), f"keyframe flag wrong at {p.frame_index}"
        if p.keyframe:
            assert NAL_SPS in types and NAL_PPS in types, "keyframe without in-line SPS/PPS"


def test_packets_come_from_the_camera_thread(make_camera) -> None:
    camera = make_camera()
    collector = start(camera)
    assert collector.wait_for_count(5)
    camera.stop()
    assert threading.current_thread().name not in collector.threads
    assert len(collector.threads) == 1


def test_keyframe_at_least_every_interval(make_camera) -> None:
    camera = make_camera()
    collector = start(camera)
    interval_frames = round(camera.keyframe_interval_s * camera.info.fps)
    assert collector.wait_for_count(3 * interval_frames + 1)
    camera.stop()
    keys = [p.frame_index for p in collector.snapshot() if p.keyframe]
    assert len(keys) >= 3
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    assert max(gaps) <= interval_frames, gaps


def test_request_keyframe_within_declared_delay(make_camera) -> None:
    camera = make_camera(realtime=True)
    collector = start(camera)
    fps = camera.info.fps
    allowed_frames = round(camera.max_keyframe_delay_s * fps)
    assert allowed_frames >= 1
    for _ in range(3):
        # ask a few frames after the latest keyframe, so a periodic one cannot answer
        assert collector.wait_until(
            lambda: (
                collector.count > 0
                and not any(p.keyframe for p in collector.packets[-3:])
                and collector.packets[-1].frame_index > 0
            )
        )
        camera.request_keyframe()
        asked_after = collector.packets[-1].frame_index
        assert collector.wait_until(
            lambda a=asked_after: any(p.keyframe and p.frame_index > a for p in collector.packets),
            timeout_s=camera.max_keyframe_delay_s + 5,
        )
        key = next(p for p in collector.packets if p.keyframe and p.frame_index > asked_after)
        assert key.frame_index - asked_after <= allowed_frames
        assert collector.wait_for_count(key.frame_index + 4)
    camera.stop()
    assert not collector.errors


def test_still_while_video_goes_on(make_camera) -> None:
    camera = make_camera(realtime=True)
    collector = start(camera)
    assert collector.wait_for_count(3)
    for _ in range(2):
        image = jpeg_image(camera.capture_still(timeout_s=5.0))
        assert image.size == (camera.info.still_width, camera.info.still_height)
    target = collector.count + 5
    assert collector.wait_for_count(target)
    camera.stop()
    assert not collector.errors
    packets = collector.snapshot()
    assert_contiguous(packets)
    # No frame missing around the stills: the video did not pause for them. (A still may
    # be a frame already captured: picamera2 keeps the latest request for that.)
    step = frame_us(camera)
    for a, b in zip(packets, packets[1:], strict=False):
        assert abs((b.pts_us - a.pts_us) - step) <= 1, (a.frame_index, b.pts_us - a.pts_us)


def test_still_needs_a_running_camera(make_camera) -> None:
    camera = make_camera()
    with pytest.raises(CameraError):
        camera.capture_still(timeout_s=1.0)


def test_preview_only_while_a_sink_is_set(make_camera) -> None:
    camera = make_camera(realtime=True)
    collector = start(camera)
    assert collector.wait_for_count(10)
    assert camera.preview_frames_encoded == 0, "preview work without a sink"

    sink = JpegCollector()
    camera.set_preview_sink(sink)
    started_s = time.monotonic()
    assert sink.wait_for_count(4)
    camera.set_preview_sink(None)
    elapsed_s = sink.items[-1][2] - started_s
    info = camera.info
    # The encoder may deliver a frame's packet after its preview (picamera2 encodes on its
    # own thread): wait until the newest preview's frame is delivered too.
    newest = max(pts_us for _, pts_us, _ in sink.items)
    assert poll_until(lambda: collector.snapshot()[-1].pts_us >= newest, 10)
    pts = {p.pts_us for p in collector.snapshot()}
    for jpeg, pts_us, _ in sink.items:
        assert jpeg_image(jpeg).size == (info.preview_width, info.preview_height)
        assert pts_us in pts, "preview pts is not the pts of a delivered frame"
    allowed = math.floor(elapsed_s * PREVIEW_FPS) + 2
    assert len(sink.items) <= allowed, "preview faster than its fps"

    settle = collector.count + 3
    assert collector.wait_for_count(settle)
    encoded = camera.preview_frames_encoded
    delivered = len(sink.items)
    assert collector.wait_for_count(settle + 12)
    camera.stop()
    assert camera.preview_frames_encoded == encoded, "preview work after the sink was cleared"
    assert len(sink.items) == delivered


def test_motion_frames_only_while_a_sink_is_set_from_delivered_frames(make_camera) -> None:
    """Every backend gives grey motion frames of MOTION_WIDTH while a motion sink is set,
    with the pts of a delivered frame, at most at their rate, and none once it is cleared."""
    camera = make_camera(realtime=True)
    collector = start(camera)
    assert collector.wait_for_count(5)
    frames: list[tuple[np.ndarray, int]] = []
    enough = threading.Event()

    def sink(grey: np.ndarray, pts_us: int) -> None:
        frames.append((grey, pts_us))
        if len(frames) >= 4:
            enough.set()

    assert camera.set_motion_sink(sink, fps=5)
    assert enough.wait(10)
    camera.set_motion_sink(None)
    newest = max(pts for _, pts in frames)
    assert poll_until(lambda: collector.snapshot()[-1].pts_us >= newest, 10)
    pts = {p.pts_us for p in collector.snapshot()}
    for grey, pts_us in frames:
        assert grey.dtype == np.uint8 and grey.ndim == 2 and grey.shape[1] == MOTION_WIDTH
        assert pts_us in pts, "a motion frame's pts is not the pts of a delivered frame"
    assert (np.diff(sorted(pts_us for _, pts_us in frames)) >= 190_000).all()
    settle = collector.count + 3
    assert collector.wait_for_count(settle)
    given = len(frames)
    assert collector.wait_for_count(settle + 12)
    assert len(frames) == given, "motion frames after the sink was cleared"


def test_stop_is_idempotent_and_joins_threads(make_camera) -> None:
    camera = make_camera()
    camera.stop()  # before start: harmless
    before = set(threading.enumerate())
    collector = start(camera)
    camera.set_preview_sink(JpegCollector())
    assert collector.wait_for_count(20)
    camera.stop()
    camera.stop()
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == []
    count = collector.count
    assert not poll_until(lambda: collector.count != count, timeout_s=0.2)
    assert not collector.errors


def test_error_in_the_backend_reaches_on_error_once(make_camera) -> None:
    try:
        camera = make_camera(fail_after_frames=5)
    except TypeError:
        pytest.skip("backend has no fail_after_frames hook")
    before = set(threading.enumerate())
    collector = start(camera)
    assert collector.error_event.wait(5.0)
    if getattr(camera, "software_encoder", False):
        # Every packet is one of the 5 frames; libx264 as picamera2 sets it up still holds
        # the last ones (2 here), to be flushed at stop.
        assert 1 <= collector.count <= 5
    else:
        assert collector.count == 5
    camera.stop()
    camera.stop()
    assert len(collector.errors) == 1
    assert isinstance(collector.errors[0], Exception)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []


def test_error_in_on_packet_reaches_on_error_once(make_camera) -> None:
    camera = make_camera()
    errors: list[BaseException] = []
    failed = threading.Event()
    calls = []

    def on_packet(packet) -> None:
        calls.append(packet.frame_index)
        if len(calls) == 3:
            raise RuntimeError("sink broke")

    def on_error(exc: BaseException) -> None:
        errors.append(exc)
        failed.set()

    camera.start(on_packet, on_error)
    assert failed.wait(5.0)
    camera.stop()
    assert len(errors) == 1 and str(errors[0]) == "sink broke"
    assert calls == [0, 1, 2]


def test_realtime_pacing(make_camera) -> None:
    camera = make_camera(realtime=True)
    arrivals: list[float] = []
    collector = Collector()

    def on_packet(packet) -> None:
        arrivals.append(time.monotonic())
        collector.on_packet(packet)

    camera.start(on_packet, collector.on_error)
    assert collector.wait_for_count(16)
    camera.stop()
    expected_s = 15 / camera.info.fps
    elapsed_s = arrivals[15] - arrivals[0]
    assert 0.8 * expected_s <= elapsed_s <= 1.5 * expected_s + 0.1, elapsed_s


# -- replay specifics -------------------------------------------------------------------


def test_replay_mp4_fixture_has_the_first_keyframe_headers(replay_source) -> None:
    path, packets = replay_source
    with av.open(str(path)) as container:
        extradata = container.streams.video[0].codec_context.extradata
    assert extradata and extradata[0] == 1, "no avcC extradata"
    sps = split_nal_units(parameter_sets(packets[0].data))[0]
    assert sps in extradata


def test_replay_is_a_stream_copy_across_loops(replay_source) -> None:
    path, source = replay_source
    camera = ReplayCamera(path, realtime=False, loop=True)
    assert (camera.info.width, camera.info.height, camera.info.fps) == (320, 240, 30)
    assert camera.keyframe_interval_s == pytest.approx(0.5, abs=0.002)
    collector = start(camera)
    assert collector.wait_for_count(2 * len(source) + 10)
    camera.stop()
    packets = collector.snapshot()
    loop_us = source[-1].pts_us - source[0].pts_us + PTS_PER_SECOND // 30  # as muxed
    for p in packets:
        loop, i = divmod(p.frame_index, len(source))
        original = source[i]
        assert split_nal_units(p.data) == split_nal_units(original.data), p.frame_index
        assert p.keyframe == original.keyframe
        expected_us = loop * loop_us + original.pts_us - source[0].pts_us
        assert p.pts_us - packets[0].pts_us == expected_us, p.frame_index


def test_replay_without_loop_ends_quietly(replay_source) -> None:
    path, source = replay_source
    camera = ReplayCamera(path, realtime=False, loop=False)
    collector = start(camera)
    assert camera.ended.wait(10.0)
    camera.stop()
    assert collector.count == len(source)
    assert not collector.errors


def test_replay_still_is_the_latest_delivered_frame(replay_source) -> None:
    path, _ = replay_source
    camera = ReplayCamera(path, realtime=True)
    collector = start(camera)
    try:
        assert collector.wait_for_count(20)
        asked_after = collector.packets[-1].frame_index
        shown = read_counter_of_jpeg(camera.capture_still())
        assert shown in {(asked_after + k) % 60 for k in range(1, 4)}, (asked_after, shown)
    finally:
        camera.stop()


def test_replay_of_a_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        ReplayCamera("no-such-file.mp4")
