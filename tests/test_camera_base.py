"""What the camera backends share: the one stream check, the latest-item worker, and the
Picamera2 backend's packet delivery (the IDR rule and the bounded queue)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance.ports import EncodedPacket
from hw.camera.base import LatestWorker, stream_info
from hw.camera.picamera2 import Picamera2Camera
from hw.camera.picamera2_packets import H264Delivery
from hw.camera.replay import ReplayCamera
from hw.camera.sim import SimulatedCamera
from tests.camera_fixtures import make_sim_mp4, poll_until

GOOD = {
    "width": 640,
    "height": 360,
    "fps": 30,
    "preview_width": 320,
    "preview_height": 180,
    "preview_fps": 10,
}


def info_of(
    width,
    height,
    fps,
    preview_width,
    preview_height,
    preview_fps,
    still_width=None,
    still_height=None,
    name="cam",
    **kw,
):
    return stream_info(
        name,
        (width, height),
        fps,
        preview=(preview_width, preview_height, preview_fps),
        still=(still_width, still_height),
        **kw,
    )


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"width": True}, "width"),
        ({"width": 641}, "width"),
        ({"width": 4098}, "width"),
        ({"width": "640"}, "width"),
        ({"height": 14}, "height"),
        ({"height": 640.0}, "height"),
        ({"still_width": 8}, "still_width"),
        ({"still_height": -2}, "still_height"),
        ({"preview_width": None}, "preview_width"),
        ({"preview_height": 181}, "preview_height"),
        ({"fps": 0}, "fps"),
        ({"fps": 30.0}, "fps"),
        ({"fps": False}, "fps"),
        ({"preview_fps": 0}, "preview_fps"),
        ({"preview_fps": 31}, "preview_fps"),
        ({"preview_fps": float("nan")}, "preview_fps"),
        ({"preview_fps": "10"}, "preview_fps"),
        ({"bitrate": 9_999}, "bitrate"),
        ({"bitrate": 2.5e6}, "bitrate"),
        ({"keyframe_interval_s": 0.01}, "keyframe_interval_s"),
        ({"keyframe_interval_s": 61}, "keyframe_interval_s"),
        ({"keyframe_interval_s": float("nan")}, "keyframe_interval_s"),
    ],
)
def test_a_bad_stream_value_is_a_value_error_naming_it(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} "):
        info_of(**(GOOD | kwargs))


def test_the_info_of_good_streams() -> None:
    info = info_of(**GOOD, bitrate=2_000_000, keyframe_interval_s=1.0)
    assert (info.name, info.width, info.height, info.fps) == ("cam", 640, 360, 30)
    assert (info.still_width, info.still_height) == (640, 360)  # the video size by default
    assert (info.preview_width, info.preview_height) == (320, 180)
    with pytest.raises(ValueError, match="^name "):
        info_of(**GOOD, name="")


@pytest.fixture(scope="module")
def replay_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sim_mp4(tmp_path_factory.mktemp("base") / "replay.mp4", frames=10)


@pytest.mark.parametrize("backend", ["sim", "replay", "picamera2"])
def test_every_backend_checks_its_streams_the_same_way(backend: str, replay_mp4: Path) -> None:
    """One check: the same bad value gets the same message from every backend."""
    if backend == "sim":
        build = lambda **kw: SimulatedCamera(**kw)  # noqa: E731
    elif backend == "replay":
        build = lambda **kw: ReplayCamera(replay_mp4, **kw)  # noqa: E731
    else:
        build = lambda **kw: Picamera2Camera(**kw)  # noqa: E731
    with pytest.raises(ValueError) as caught:
        build(preview_width=4098, preview_height=180)
    assert str(caught.value) == "preview_width must be an even integer in 16..4096, got 4098"
    with pytest.raises(ValueError, match="^preview_fps "):
        build(preview_fps=0)
    assert build(preview_width=320, preview_height=180).info.preview_width == 320


def test_the_replay_preview_rate_defaults_to_at_most_the_files_rate(tmp_path: Path) -> None:
    slow = make_sim_mp4(tmp_path / "slow.mp4", frames=10, fps=5)
    camera = ReplayCamera(slow)
    assert camera.info.fps == 5
    with pytest.raises(ValueError, match="^preview_fps "):
        ReplayCamera(slow, preview_fps=10)


# -- LatestWorker ---------------------------------------------------------------------------


def test_a_latest_worker_takes_only_the_newest_item() -> None:
    release = threading.Event()
    taken: list[int] = []

    def work(item: int) -> None:
        taken.append(item)
        if item == 1:
            assert release.wait(5)

    worker = LatestWorker(work, "camera-test-latest", on_error=lambda n, e: None)
    worker.offer(1)
    assert poll_until(lambda: taken == [1])
    for item in (2, 3, 4):  # the worker is busy with 1: each replaces the last
        worker.offer(item)
    release.set()
    assert poll_until(lambda: taken == [1, 4])
    assert worker.alive
    assert worker.stop()
    assert not worker.alive


def test_a_latest_worker_reports_its_error_with_its_name_and_ends() -> None:
    reported: list[tuple[str, BaseException]] = []

    def work(item: int) -> None:
        raise RuntimeError(f"bad item {item}")

    worker = LatestWorker(
        work, "camera-test-failing", on_error=lambda n, e: reported.append((n, e))
    )
    worker.offer(7)
    assert poll_until(lambda: not worker.alive)
    assert [(n, str(e)) for n, e in reported] == [("camera-test-failing", "bad item 7")]
    assert worker.stop()


# -- H264Delivery -----------------------------------------------------------------------------

SPS = b"\x00\x00\x00\x01\x67\x42\x00\x1f"
PPS = b"\x00\x00\x00\x01\x68\xce\x38\x80"
IDR = b"\x00\x00\x00\x01\x65\x88\x84\x00"
SLICE = b"\x00\x00\x00\x01\x41\x9a\x02\x00"


class Sink:
    def __init__(self, block_at: int | None = None) -> None:
        self.packets: list[EncodedPacket] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self._block_at = block_at

    def __call__(self, packet: EncodedPacket) -> None:
        self.packets.append(packet)
        if len(self.packets) == self._block_at:
            self.entered.set()
            assert self.release.wait(10)


@pytest.fixture
def stopping():
    event = threading.Event()
    yield event
    event.set()


def test_delivery_merges_parameter_sets_into_the_idr_and_restores_them(stopping) -> None:
    delivery = H264Delivery("test", 16, request_keyframe=lambda: None)
    sink = Sink()
    delivery.start(sink, stopping, on_error=lambda n, e: None)
    delivery.put(SLICE, False, 1)  # before any keyframe: cannot start a segment
    delivery.put(SPS + PPS, True, 2)  # parameter sets alone, flagged as a keyframe
    delivery.put(IDR, True, 3)
    delivery.put(SLICE, False, 3)  # a pts that does not increase is made to
    delivery.put(IDR, True, 5)  # an IDR without SPS/PPS gets the last ones seen
    assert poll_until(lambda: len(sink.packets) == 3)
    first, second, third = sink.packets
    assert (first.data, first.keyframe, first.pts_us, first.frame_index) == (
        SPS + PPS + IDR,
        True,
        3,
        0,
    )
    assert (second.keyframe, second.pts_us, second.frame_index) == (False, 4, 1)
    assert (third.data, third.keyframe, third.frame_index) == (SPS + PPS + IDR, True, 2)
    stopping.set()
    delivery.stop(5)
    assert delivery.dropped == 0


def test_delivery_drops_past_its_bound_and_resumes_at_an_idr(stopping) -> None:
    asked: list[int] = []
    delivery = H264Delivery("test", 2, request_keyframe=lambda: asked.append(1))
    sink = Sink(block_at=1)
    delivery.start(sink, stopping, on_error=lambda n, e: None)
    delivery.put(SPS + PPS + IDR, True, 1)
    assert sink.entered.wait(5)  # the sink is stuck in its first packet
    for pts in range(2, 8):  # two fit in the queue, four are dropped
        delivery.put(SLICE, False, pts)
    assert delivery.overflowed == 4 and asked == [1]  # one keyframe request per overflow
    delivery.put(SPS + PPS + IDR, True, 8)  # dropped too: the queue is still full
    sink.release.set()
    assert poll_until(lambda: len(sink.packets) == 3)
    delivery.put(SLICE, False, 9)  # after the drop, the stream waits for an IDR
    delivery.put(SPS + PPS + IDR, True, 10)
    assert poll_until(lambda: len(sink.packets) == 4)
    assert [p.pts_us for p in sink.packets] == [1, 2, 3, 10]
    assert sink.packets[-1].keyframe
    assert delivery.dropped == 5 + 1  # four and the IDR overflowed, one slice skipped
    stopping.set()
    delivery.stop(5)


def test_a_failing_sink_is_reported_and_ends_delivery(stopping) -> None:
    reported: list[tuple[str, BaseException]] = []

    def sink(packet: EncodedPacket) -> None:
        raise OSError("card gone")

    delivery = H264Delivery("test", 4, request_keyframe=lambda: None)
    delivery.start(sink, stopping, on_error=lambda n, e: reported.append((n, e)))
    delivery.put(SPS + PPS + IDR, True, 1)
    assert poll_until(lambda: len(reported) == 1)
    assert reported[0][0] == "camera-test-deliver"
    assert isinstance(reported[0][1], OSError)
    delivery.stop(5)


# -- Annex B ----------------------------------------------------------------------------------


def test_annex_b_units_split_at_three_and_four_byte_start_codes() -> None:
    from hw.camera.annexb import NAL_IDR, nal_types, parameter_sets, split_nal_units

    three = b"\x00\x00\x01\x67\x42\x00" + b"\x00\x00\x01\x68\xce"  # ends with a zero byte
    data = three + IDR
    assert split_nal_units(data) == [b"\x67\x42", b"\x68\xce", b"\x65\x88\x84\x00"]
    assert nal_types(data) == [7, 8, NAL_IDR]
    assert parameter_sets(data) == b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x68\xce"
    assert parameter_sets(SLICE) == b""
    assert split_nal_units(b"no start code") == []


#: A still and a preview of one frame, scaled at once on two threads (as ``_deliver`` hands
#: one frame to both). Run in a child: PyAV's per-frame scaler, shared, crashes swscale.
SAME_FRAME_TWO_THREADS = """
import threading, av, numpy as np
from hw.camera.base import frame_to_jpeg
frame = av.VideoFrame.from_ndarray(np.zeros((360, 320), dtype=np.uint8), format="yuv420p")
sizes = set()
def scale(width, height):
    for _ in range(500):
        sizes.add((width, height, len(frame_to_jpeg(frame, width, height)) > 0))
threads = [threading.Thread(target=scale, args=s) for s in ((320, 240), (160, 120))]
[t.start() for t in threads]
[t.join() for t in threads]
print(sorted(sizes))
"""


def test_a_still_and_a_preview_of_one_frame_scale_at_once_without_crashing() -> None:
    """Through the frame's own scaler (``to_image``) this child hung in libswscale, every
    time (with ``to_image`` alone it died of SIGSEGV within half a second); the appliance
    died so (a segfault in libswscale) when a photo was taken while the live view played."""
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", SAME_FRAME_TWO_THREADS],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, (run.returncode, run.stderr[-2000:])
    assert run.stdout.strip() == "[(160, 120, True), (320, 240, True)]"
