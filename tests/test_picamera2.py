"""The Picamera2 backend against the stand-in picamera2 (tests/picamera2_standin).

The camera contract runs in ``test_camera_contract.py``; here: how the backend drives
picamera2 (configuration, encoders, outputs, controls) and how camera failures reach the
appliance's ERROR state and recover.
"""

from __future__ import annotations

import errno
import importlib.util
import inspect
import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from appliance.config import Config
from appliance.controller import Controller
from appliance.errors import CameraError, CameraStuck
from appliance.library import Library
from appliance.states import Event, State
from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SLICE, NAL_SPS, nal_types, split_nal_units
from hw.camera.picamera2 import Picamera2Camera, yuv420_to_frame
from hw.camera.picamera2_modes import choose_sensor_mode
from hw.camera.picamera2_subdev import V4L2_CID_WIDE_DYNAMIC_RANGE as WDR
from hw.camera.picamera2_subdev import SensorSubdevices
from tests import picamera2_standin
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    MissingModule,
    jpeg_image,
    make_sim_mp4,
    read_counter_of_jpeg,
)
from tests.harness import SMALL, wait_until
from tests.sensor_modes import IMX219_MODES, IMX477_MODES, IMX708_HDR_MODES, IMX708_MODES

#: ``Output.outputframe`` as picamera2 declares it (picamera2/outputs/output.py).
PICAMERA2_OUTPUTFRAME = "(self, frame, keyframe=True, timestamp=None, packet=None, audio=False)"


@pytest.fixture(scope="module")
def source_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 frames of the simulated camera, 320x240 at 30 fps, an IDR every 0.5 s."""
    return make_sim_mp4(tmp_path_factory.mktemp("picamera2") / "sensor.mp4")


@pytest.fixture
def board(
    request: pytest.FixtureRequest, source_mp4: Path, tmp_path: Path
) -> picamera2_standin.Board:
    board = picamera2_standin.Board(source=source_mp4, realtime=True)
    board.attach_v4l2(tmp_path / "pi")
    return picamera2_standin.install_for(request, board)


def make(**kw) -> Picamera2Camera:
    """A camera at 320x240; on the installed board's V4L2 sub-devices if it has them."""
    args = {
        "width": 320,
        "height": 240,
        "fps": 30,
        "bitrate": 1_500_000,
        "preview_width": 160,
        "preview_height": 120,
        "frame_timeout_s": 1.0,
        "sensor_subdevices": board_subdevices(),
    } | kw
    return Picamera2Camera(**args)


def board_subdevices() -> SensorSubdevices | None:
    try:
        tree = picamera2_standin.active_board().v4l2
    except RuntimeError:  # no board installed
        return None
    return tree.subdevices() if tree is not None else None


def hdr_writes(board: picamera2_standin.Board) -> list[int]:
    """The values written to the IMX708's HDR control."""
    return [value for _, cid, value in board.v4l2.set_calls() if cid == WDR]


def start_and_stop(camera: Picamera2Camera, packets: int = 3) -> Collector:
    """Start ``camera``, wait for ``packets`` packets, stop it."""
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(packets)
    finally:
        camera.stop()
    assert not collector.errors
    return collector


def _standin_on_path(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and Path(spec.origin).is_relative_to(picamera2_standin.STANDIN_DIR)


def test_the_standin_is_importable_only_inside_the_boundary(source_mp4):
    # The real picamera2 (dev extra) may be installed; libcamera never is off a Pi.
    assert not _standin_on_path("picamera2") and not _standin_on_path("libcamera")
    with picamera2_standin.installed(picamera2_standin.Board(source=source_mp4)):
        assert _standin_on_path("picamera2") and _standin_on_path("libcamera")
    assert not _standin_on_path("picamera2") and not _standin_on_path("libcamera")


def test_start_without_picamera2_is_a_camera_error():
    with pytest.raises(CameraError, match="picamera2 is not available"):
        make().start(lambda p: None)


def test_configuration_encoder_and_controls(board):
    camera = make(keyframe_interval_s=1.0, rotation=180, hflip=True)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
    finally:
        camera.stop()
    (config,) = board.called("configure")
    assert config["main"]["size"] == (320, 240) and config["main"]["format"] == "YUV420"
    assert config["lores"]["size"] == (160, 120) and config["lores"]["format"] == "YUV420"
    assert config["encode"] == "main"
    # 180 degrees is both flips; hflip on top of it cancels the horizontal one.
    assert (config["transform"].hflip, config["transform"].vflip) == (False, True)
    assert config["controls"]["FrameDurationLimits"] == (33333, 33333)
    assert int(config["controls"]["AfMode"]) == 2  # AfModeEnum.Continuous
    (h264,) = board.called("H264Encoder")
    assert h264 == {"bitrate": 1_500_000, "repeat": True, "iperiod": 30, "framerate": 30}
    assert board.called("start_encoder") == [("H264Encoder", "main")]
    # IMX708 found: its HDR control read, already off, so neither written nor reset
    assert [call[:3] for call in board.v4l2.calls] == [("G_CTRL", "v4l-subdev2", WDR)]
    assert board.called("reset_camera_manager") == []
    assert board.called("close") == [None]


def test_no_autofocus_control_without_af_and_hdr_on(board):
    board.has_autofocus = False
    camera = make(hdr=True)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    camera.stop()
    (config,) = board.called("configure")
    assert "AfMode" not in config["controls"]
    assert hdr_writes(board) == [1]


def test_the_output_is_called_as_picamera2_calls_it(board):
    from picamera2.outputs import Output

    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    assert collector.wait_for_count(40)
    camera.stop()
    from hw.camera.picamera2_packets import output_class

    cls = output_class(Output)
    assert issubclass(cls, Output)
    assert str(inspect.signature(cls.outputframe)) == PICAMERA2_OUTPUTFRAME
    assert str(inspect.signature(Output.outputframe)) == PICAMERA2_OUTPUTFRAME
    args = board.outputframe_args[:40]
    assert all(t is bytes and isinstance(k, bool) and isinstance(ts, int) for t, k, ts in args)
    assert args[0][2] == 0  # microseconds since the encoder's first frame

    # Stream copy of the sensor's packets, in order, keyframes with SPS/PPS in-line.
    source = board.frames
    packets = collector.snapshot()
    for packet in packets[: len(source)]:
        original = source[packet.frame_index]
        assert split_nal_units(packet.data) == split_nal_units(original.data)
        assert packet.keyframe == original.keyframe
        if packet.keyframe:
            assert {NAL_SPS, NAL_PPS} <= set(nal_types(packet.data))
    # pts on the sensor's clock: the encoder's first timestamp plus its offsets.
    steps = {b.pts_us - a.pts_us for a, b in zip(packets, packets[1:], strict=False)}
    assert steps == {33333}


def test_preview_encoder_runs_only_while_a_sink_is_set(board):
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        assert board.called("MJPEGEncoder") == []
        sink = JpegCollector()
        camera.set_preview_sink(sink)
        assert sink.wait_for_count(2)
        assert board.called("start_encoder")[-1] == ("MJPEGEncoder", "lores")
        assert jpeg_image(sink.items[0][0]).size == (160, 120)
        camera.set_preview_sink(None)
        assert board.called("stop_encoder") == [("MJPEGEncoder", "lores")]
    finally:
        camera.stop()


def test_still_comes_from_the_main_stream(board):
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        asked_after = collector.packets[-1].frame_index
        jpeg = camera.capture_still()
    finally:
        camera.stop()
    assert jpeg_image(jpeg).size == (320, 240)
    # The simulated picture carries its frame counter: the still is a frame just after.
    shown = read_counter_of_jpeg(jpeg)
    assert shown in {(asked_after + k) % 60 for k in range(0, 5)}, (asked_after, shown)


def test_yuv420_arrays_with_stride_padding(board):
    from picamera2 import Picamera2

    picam = Picamera2()
    picam.configure(
        picam.create_video_configuration(
            main={"size": (320, 240), "format": "YUV420"},
            lores={"size": (160, 120), "format": "YUV420"},
        )
    )
    assert picam.camera_configuration()["lores"]["stride"] == 192  # padded rows
    picam.start()
    try:
        array = picam.capture_array("lores")
    finally:
        picam.close()
    assert array.shape == (180, 192)
    frame = yuv420_to_frame(array, 160, 120)
    assert (frame.width, frame.height) == (160, 120)
    assert any(
        (frame.to_ndarray() == picam._picture("lores", i)).all() for i in range(len(board.frames))
    ), "the unpadded picture is not one of the sensor's"


def test_bad_options_are_value_errors():
    with pytest.raises(ValueError, match="rotation"):
        make(rotation=90)
    with pytest.raises(ValueError, match="preview_fps"):
        make(preview_fps=60)


def test_camera_failures_become_error_and_are_retried(tmp_path, board):
    board.cameras = []  # the ribbon cable is not plugged in
    config = Config(**{**SMALL, "storage_root": str(tmp_path), "autostart": True})
    camera = make(fps=30)
    controller = Controller(config, camera, Library(config.storage_root))
    controller.start()
    try:
        assert controller.wait_for_state(State.ERROR, timeout_s=5)
        assert "no camera" in (controller.status.last_error or "")
        board.cameras = picamera2_standin.Board(source=board.source).cameras  # plugged in
        # Recovered: IDLE, and with autostart on at once RECORDING (IDLE may pass unseen).
        assert wait_until(lambda: controller.state in (State.IDLE, State.RECORDING), 10)
        controller.post(Event.START_RECORDING)
        assert controller.wait_for_state(State.RECORDING, timeout_s=5)

        board.quiet = True  # the cable works loose while recording: frames just stop
        assert controller.wait_for_state(State.ERROR, timeout_s=5)
        assert "no frame" in (controller.status.last_error or "")
        board.quiet = False
        assert controller.wait_for_state(State.RECORDING, timeout_s=10)
        assert wait_until(lambda: controller.recorder.status.frames_written > 0, 5)
    finally:
        controller.shutdown()
        camera.stop()
    assert controller.state is State.OFF


def test_a_camera_that_cannot_be_closed_is_stuck_until_a_new_process(board, caplog):
    """picamera2 #1264: after a frontend timeout ``stop_recording`` blocks for ever. The stop
    gives up after CLOSE_TIMEOUT_S and the camera stays held; a new start says so
    (CameraStuck) instead of failing to acquire it again and again."""
    from hw.camera.picamera2 import CLOSE_TIMEOUT_S

    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
        board.hang_stop = True
        camera.stop()  # returns after CLOSE_TIMEOUT_S
        assert "could not be closed" in caplog.text
        assert board.held == {0} and board.called("close") == []
        for _ in range(2):  # every retry, not once
            with pytest.raises(CameraStuck, match=f"not stop within {CLOSE_TIMEOUT_S:.0f} s"):
                camera.start(collector.on_packet, collector.on_error)
        assert len(board.called("Picamera2")) == 1  # nothing more was asked of picamera2
    finally:
        board.unhang.set()
        camera.stop()
    assert wait_until(lambda: board.held == set(), 10)  # the abandoned close ended


# -- picamera2 releases (the stand-in's release switch) -----------------------------------

OLD = ("0.3.16", "0.3.22", "0.3.31")


def board_for(request, source_mp4, release: str, **kw) -> picamera2_standin.Board:
    """A board showing picamera2 ``release`` (no V4L2 sub-devices unless attached)."""
    board = picamera2_standin.Board(source=source_mp4, realtime=True, release=release, **kw)
    return picamera2_standin.install_for(request, board)


@pytest.mark.parametrize("release", picamera2_standin.RELEASES)
def test_features_are_tested_not_read_from_a_version(request, source_mp4, release):
    from hw.camera.picamera2 import picamera2_features

    board_for(request, source_mp4, release)
    features = picamera2_features()
    version = picamera2_standin.release_tuple(release)
    assert features.available and features.encoder == "H264Encoder"
    assert features.version is None  # the stand-in is not the installed distribution
    assert features.force_key_frame is (version >= (0, 3, 32))
    assert features.keyframe_on_request is features.force_key_frame  # V4L2: no PyAV
    assert features.wait_timeout is (version >= (0, 3, 17))
    assert features.jpeg_capture is (version >= (0, 3, 26))


@pytest.mark.parametrize("release", picamera2_standin.RELEASES)
def test_still_is_picamera2s_jpeg_where_it_encodes_yuv420(request, source_mp4, release):
    """From 0.3.26 ``capture_file`` encodes the main stream (EXIF and all); before, the
    backend copies the frame with ``capture_array`` and encodes it."""
    board = board_for(request, source_mp4, release)
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        asked_after = collector.packets[-1].frame_index
        jpeg = camera.capture_still(timeout_s=5.0)
        board.quiet = True  # the sensor stops: the wait is bounded on both paths
        with pytest.raises(CameraError, match="no still in 0.3 s"):
            camera.capture_still(timeout_s=0.3)
    finally:
        camera.stop()
    by_picamera2 = picamera2_standin.release_tuple(release) >= (0, 3, 26)
    assert board.called("capture_file") == (["main"] if by_picamera2 else [])
    assert jpeg_image(jpeg).size == (320, 240)
    assert read_counter_of_jpeg(jpeg) in {(asked_after + k) % 60 for k in range(0, 5)}


@pytest.mark.parametrize("release", OLD)
def test_recording_starts_without_force_key_frame(tmp_path, request, source_mp4, release, caplog):
    """Blocker 2: before 0.3.32 the keyframe request raised and the controller stayed IDLE."""
    board_for(request, source_mp4, release)
    config = Config(**{**SMALL, "storage_root": str(tmp_path), "autostart": False})
    camera = make(keyframe_interval_s=0.5)
    controller = Controller(config, camera, Library(config.storage_root))
    controller.start()
    try:
        assert controller.wait_for_state(State.IDLE, timeout_s=5)
        controller.post(Event.START_RECORDING)
        assert controller.wait_for_state(State.RECORDING, timeout_s=5)
        assert wait_until(lambda: controller.recorder.status.frames_written > 20, 10)
        assert controller.state is State.RECORDING
        assert controller.status.last_error is None
    finally:
        controller.shutdown()
        camera.stop()
    assert camera.keyframe_on_request is False
    assert camera.max_keyframe_delay_s == pytest.approx((15 + 3) / 30)
    warnings = [r for r in caplog.records if "force_key_frame" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"


def test_keyframe_warning_once_per_camera_across_restarts(request, source_mp4, caplog):
    board_for(request, source_mp4, "0.3.31")
    camera = make()
    for _ in range(2):
        collector = Collector()
        camera.start(collector.on_packet, collector.on_error)
        assert collector.wait_for_count(3)
        camera.request_keyframe()  # no AttributeError
        camera.stop()
    assert sum("force_key_frame" in r.getMessage() for r in caplog.records) == 1


def test_still_wait_is_bounded_without_wait_timeout(request, source_mp4):
    board = board_for(request, source_mp4, "0.3.16")
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
        assert jpeg_image(camera.capture_still(timeout_s=5.0)).size == (320, 240)
        board.quiet = True  # the sensor stops: wait(job) alone would never return
        with pytest.raises(CameraError, match="no still in 0.3 s"):
            camera.capture_still(timeout_s=0.3)
    finally:
        camera.stop()


def test_parameter_set_buffers_flagged_as_keyframes_are_merged(request, source_mp4):
    """0.3.22: SPS/PPS alone in a buffer flagged as a keyframe, via a 3-argument outputframe."""
    board = board_for(request, source_mp4, "0.3.22", split_headers_from=0)
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(40)
    finally:
        camera.stop()
    packets = collector.snapshot()
    # Each IDR came as two buffers flagged as keyframes (SPS/PPS, then the slice).
    flagged = sum(1 for _, keyframe, _ in board.outputframe_args if keyframe)
    assert flagged >= 2 * sum(p.keyframe for p in packets)
    # One packet a picture: the parameter-set buffers did not become packets of their own.
    source = board.frames
    for p in packets[:40]:
        types = nal_types(p.data)
        assert NAL_SLICE in types or NAL_IDR in types
        assert p.keyframe == (NAL_IDR in types)
        if p.keyframe:
            assert types[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in types
    keys = [p for p in packets[:40] if p.keyframe]
    assert len(keys) >= 2 and packets[0].keyframe
    assert split_nal_units(packets[0].data) == split_nal_units(source[0].data)
    steps = {b.pts_us - a.pts_us for a, b in zip(packets, packets[1:], strict=False)}
    assert steps == {33333}  # no extra packet sharing an IDR's timestamp


def test_idr_without_parameter_sets_gets_the_last_ones(request, source_mp4):
    """0.3.31: picamera2 drops the SPS/PPS-only buffer, so later IDRs come without them."""
    board = board_for(request, source_mp4, "0.3.31", split_headers_from=1)
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(50)
    finally:
        camera.stop()
    keys = [p for p in collector.snapshot() if p.keyframe]
    assert len(keys) >= 3
    first_headers = [u for u in split_nal_units(keys[0].data) if u[0] & 0x1F in (7, 8)]
    for key in keys:
        assert split_nal_units(key.data)[:2] == first_headers
    assert split_nal_units(keys[1].data)[2:] == split_nal_units(board.frames[15].data)[2:]


def test_hdr_control_failure_is_a_warning_and_recording_goes_on(board, caplog):
    caplog.set_level(logging.INFO, logger="hw.camera.picamera2")
    board.v4l2.fail_set = OSError(errno.EBUSY, "Device or resource busy")
    camera = make(hdr=True)
    collector = start_and_stop(camera, packets=20)  # the recording goes on
    assert hdr_writes(board) == [1]
    assert board.called("reset_camera_manager") == []  # nothing changed: nothing to re-read
    assert camera.hdr_active is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == (
        "cannot set the IMX708 HDR mode (on): [Errno 16] Device or resource busy"
    )
    assert "IMX708 sensor HDR is off though on was asked for" in warnings[-1]
    assert [p.frame_index for p in collector.snapshot()[:20]] == list(range(20))


def test_hdr_left_on_is_reported_too(board, caplog):
    board.sensor_hdr = True  # left on (by rpicam-hello --hdr, say)
    board.v4l2.fail_set = OSError(errno.EBUSY, "Device or resource busy")
    camera = make(hdr=False)
    start_and_stop(camera)
    assert hdr_writes(board) == [0]
    assert camera.hdr_active is True
    assert "IMX708 sensor HDR is on though off was asked for" in caplog.text


def test_hdr_as_asked_says_nothing(board, caplog):
    camera = make(hdr=True)
    start_and_stop(camera)
    assert camera.hdr_active is True and "sensor HDR is" not in caplog.text


def test_hdr_control_is_written_only_when_it_differs(board, caplog):
    """Read first (VIDIOC_G_CTRL); written, and the camera manager reset, only on a change."""
    caplog.set_level(logging.INFO, logger="hw.camera.picamera2")
    camera = make(hdr=True)
    start_and_stop(camera)
    assert hdr_writes(board) == [1]
    assert board.called("reset_camera_manager") == [None]
    assert "IMX708 sensor HDR switched on" in caplog.text
    start_and_stop(camera)  # a restart: the control already says on
    assert hdr_writes(board) == [1]
    assert board.called("reset_camera_manager") == [None]
    assert camera.hdr_active is True
    start_and_stop(make(hdr=False))  # the setting changed: written back
    assert hdr_writes(board) == [1, 0]


@pytest.mark.parametrize("release", picamera2_standin.RELEASES)
def test_hdr_is_set_without_opencv_on_every_release(request, source_mp4, tmp_path, release):
    """Finding 2: picamera2.devices imports cv2 (0.3.22 to 0.3.36), which a stock Pi OS
    has not; the backend sets the control itself and never imports picamera2.devices.
    The camera opened after the write shows the HDR mode: from 0.3.20 picamera2's camera
    manager was reset; before, it starts anew with every first camera."""
    board = board_for(request, source_mp4, release)
    board.attach_v4l2(tmp_path / "pi")
    with MissingModule("cv2") as opencv:
        camera = make(hdr=True)
        start_and_stop(camera)
    assert opencv.attempts == []
    assert "picamera2.devices" not in sys.modules
    assert hdr_writes(board) == [1] and board.sensor_hdr is True
    assert camera.hdr_active is True
    resets = board.called("reset_camera_manager")
    assert resets == ([None] if picamera2_standin.release_tuple(release) >= (0, 3, 20) else [])


def test_no_hdr_sub_device_is_a_warning_and_recording_goes_on(board, tmp_path, caplog):
    from tests.fake_v4l2 import FakeSubdevices

    empty = FakeSubdevices(tmp_path / "no-sensor-node")  # e.g. an overlay for another sensor
    camera = make(hdr=True, sensor_subdevices=empty.subdevices())
    start_and_stop(camera, packets=10)
    assert "cannot set the IMX708 HDR mode (on): no V4L2 sub-device of imx708 at" in caplog.text
    assert camera.hdr_active is False


# -- the sensor mode (Finding 7) -------------------------------------------------------


def imx219(board: picamera2_standin.Board) -> None:
    """A Camera Module 2 (IMX219) is attached instead."""
    board.cameras = [{"Model": "imx219", "Location": 2, "Rotation": 180, "Id": IMX219_ID, "Num": 0}]


IMX219_ID = "/base/soc/i2c0mux/i2c@1/imx219@10"


def test_picamera2_alone_crops_a_camera_module_2_at_1080p(board):
    """What Finding 7 is about: the mode nearest 1920x1080 reads 58 % of the width."""
    from picamera2 import Picamera2

    imx219(board)
    picam = Picamera2()
    try:
        config = picam.create_video_configuration(main={"size": (1920, 1080)})
        picam.configure(config)
    finally:
        picam.close()
    assert board.sensor_mode == IMX219_MODES[2]
    assert board.sensor_mode.size == (1920, 1080)
    assert board.sensor_mode.crop_limits[2] / 3280 < 0.59


@pytest.mark.parametrize(
    ("model", "hdr", "expected"),
    [
        ("imx219", False, IMX219_MODES[1]),  # 2x2 binned 1640x1232, not the 1920x1080 crop
        ("imx708_wide", False, IMX708_MODES[1]),  # binned 2304x1296
        ("imx708_wide", True, IMX708_HDR_MODES[0]),  # the HDR mode, 30 fps
    ],
)
def test_the_sensor_mode_keeps_the_full_field_of_view(board, caplog, model, hdr, expected):
    caplog.set_level(logging.INFO, logger="hw.camera.picamera2")
    if model == "imx219":
        imx219(board)
    board.sensor_hdr = hdr
    camera = make(width=1920, height=1080, hdr=hdr)
    start_and_stop(camera)
    (config,) = board.called("configure")
    assert config["sensor"] == {"output_size": expected.size, "bit_depth": expected.bit_depth}
    assert board.sensor_mode == expected
    assert camera.sensor_mode.mode.size == expected.size
    w, h = expected.size
    logged = f"camera picamera2 ({model}): sensor mode {w}x{h} {expected.bit_depth}-bit"
    assert logged in caplog.text
    assert "reading" in caplog.text and "sensor at 30 fps" in caplog.text


@pytest.mark.parametrize(
    ("modes", "size", "fps", "expected"),
    [
        (IMX219_MODES, (1920, 1080), 30, IMX219_MODES[1]),  # none covers 1080p: the largest
        (IMX708_MODES, (1920, 1080), 30, IMX708_MODES[1]),
        (IMX477_MODES, (1920, 1080), 30, IMX477_MODES[2]),  # 2028x1080 reads 71 % of the height
        (IMX219_MODES, (640, 480), 30, IMX219_MODES[1]),  # its 640x480 mode is a crop
        (IMX219_MODES, (1280, 720), 15, IMX219_MODES[1]),  # 3280x2464 is fast enough, larger
        (IMX708_MODES, (4608, 2592), 10, IMX708_MODES[2]),
        (IMX708_HDR_MODES, (1920, 1080), 30, IMX708_HDR_MODES[0]),
    ],
)
def test_the_mode_choice(modes, size, fps, expected):
    choice = choose_sensor_mode([m.as_picamera2() for m in modes], size, fps)
    assert choice.mode is not None, choice
    assert (choice.mode.size, choice.mode.bit_depth) == (expected.size, expected.bit_depth)
    assert choice.mode.crop == expected.crop_limits


def test_no_mode_choice_without_a_full_field_mode_or_raw_modes():
    fast = choose_sensor_mode([m.as_picamera2() for m in IMX477_MODES], (1920, 1080), 50)
    assert fast.mode is None
    assert fast.reason == (
        "no mode reads the whole 4056x3040 sensor at 50 fps; the view may be cropped"
    )
    usb = choose_sensor_mode([{"format": "MJPEG"}, {"format": "YUYV"}], (1280, 720), 30)
    assert usb.mode is None and usb.reason == "picamera2 lists no raw sensor modes"


def test_before_0_3_16_the_mode_is_asked_for_by_the_raw_stream(request, source_mp4, tmp_path):
    board = board_for(request, source_mp4, "0.3.12")
    board.attach_v4l2(tmp_path / "pi")
    imx219(board)
    camera = make(width=1920, height=1080)
    start_and_stop(camera)
    (config,) = board.called("configure")
    assert config["sensor"] is None  # this release has no sensor configuration
    assert config["raw"] == {"size": (1640, 1232), "format": "SRGGB10_CSI2P"}
    assert board.sensor_mode == IMX219_MODES[1]


def test_no_full_field_mode_fast_enough_leaves_it_to_picamera2(board, caplog):
    imx219(board)
    camera = make(width=1920, height=1080, fps=45)  # the binned mode tops out at 41.85 fps
    start_and_stop(camera)
    (config,) = board.called("configure")
    assert config["sensor"] == {}
    assert board.sensor_mode == IMX219_MODES[2]  # picamera2's choice: the cropped mode
    assert camera.sensor_mode.mode is None
    assert "no mode reads the whole 3280x2464 sensor at 45 fps" in caplog.text


def test_sensor_modes_that_cannot_be_read_leave_it_to_picamera2(board, caplog):
    """Listing the modes configures each with 4 raw buffers: a full-size IMX708 mode needs
    60 MB, more than an older Zero 2 W set-up's 64 MB of CMA leaves; the camera records
    anyway."""
    board.cma_bytes = 48 * 2**20
    camera = make(width=1920, height=1080)
    start_and_stop(camera, packets=10)
    (config,) = board.called("configure")
    assert config["sensor"] == {}
    assert board.sensor_mode == IMX708_MODES[1]  # picamera2's choice, full field here too
    assert "sensor mode: picamera2's choice (the sensor modes cannot be read:" in caplog.text


def test_the_sensor_modes_are_read_once_a_sensor_state(board):
    """Listing them configures the camera once a mode: a restart uses the list it has,
    unless the sensor's HDR (which changes the modes) is not what it was."""
    camera = make(hdr=True)
    start_and_stop(camera)
    start_and_stop(camera)
    assert len(board.called("sensor_modes")) == 1
    board.sensor_hdr = False  # switched off behind our back, and it cannot be written
    board.v4l2.fail_set = OSError(errno.EBUSY, "Device or resource busy")
    start_and_stop(camera)
    assert len(board.called("sensor_modes")) == 2
    assert board.sensor_mode == IMX708_MODES[1]


def test_buffer_count_goes_into_the_configuration(board):
    assert make(width=1920, height=1080).buffer_count == 4  # Zero 2 W CMA (picamera2 #972)
    assert make(width=1280, height=720).buffer_count == 4
    assert make().buffer_count == 6
    camera = make(buffer_count=3)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    camera.stop()
    (config,) = board.called("configure")
    assert config["buffer_count"] == 3
    with pytest.raises(ValueError, match="buffer_count"):
        make(buffer_count=1)


def test_a_slow_sink_does_not_hold_up_the_encoder_callback(board):
    """outputframe only queues: the encoder's thread goes on while on_packet is stuck."""
    camera = make(packet_queue=4)
    release = threading.Event()
    stuck = threading.Event()
    delivered = []

    def slow_sink(packet) -> None:
        delivered.append(packet)
        if len(delivered) == 2:
            stuck.set()
            release.wait(30)  # the card hangs

    camera.start(slow_sink, lambda exc: None)
    try:
        assert stuck.wait(10)
        calls_at_stuck = len(board.outputframe_args)
        # Every outputframe call returned: the encoder handed over 20 more buffers.
        assert wait_until(lambda: len(board.outputframe_args) >= calls_at_stuck + 20, 10)
        assert len(delivered) == 2
        assert camera.packets_dropped >= 20 - 4
        release.set()
        assert wait_until(lambda: any(p.keyframe for p in delivered[6:]), 10)
    finally:
        release.set()
        camera.stop()
    assert [p.frame_index for p in delivered] == list(range(len(delivered)))
    resumed = next(p for p in delivered[6:] if p.keyframe)
    assert not any(p.keyframe for p in delivered[2:6])  # the 4 queued came first, in order
    assert delivered.index(resumed) == 6  # then the stream resumed at an IDR


def test_a_rate_change_sets_the_sensor_now_and_the_encoder_at_the_next_start(board):
    camera = make(keyframe_interval_s=1.0)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
        assert camera.set_video_rate(5, 400_000)
    finally:
        camera.stop()
    assert board.called("set_controls")[-1] == {"FrameDurationLimits": (200000, 200000)}
    with pytest.raises(ValueError, match="fps"):
        camera.set_video_rate(0, 400_000)
    assert camera.video_rate == (5, 400_000)
    start_and_stop(camera)
    config = board.called("configure")[-1]
    assert config["controls"]["FrameDurationLimits"] == (200000, 200000)
    h264 = board.called("H264Encoder")[-1]
    assert h264 == {"bitrate": 400_000, "repeat": True, "iperiod": 5, "framerate": 5}


def test_motion_frames_come_from_the_lores_stream_at_their_rate_only_while_a_sink_is_set(board):
    camera = make(preview_width=320, preview_height=240)
    frames: list[tuple[np.ndarray, int]] = []
    enough = threading.Event()

    def sink(grey: np.ndarray, pts_us: int) -> None:
        frames.append((grey, pts_us))
        if len(frames) >= 5:
            enough.set()

    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(10)
        assert board.called("MappedArray") == [], "a motion frame was taken with no sink"
        assert camera.set_motion_sink(sink, fps=10)
        assert enough.wait(10)
        camera.set_motion_sink(None)
        taken = len(board.called("MappedArray"))
        packets = len(collector.packets)
        assert collector.wait_for_count(packets + 10)
        assert len(board.called("MappedArray")) == taken
    finally:
        camera.stop()
    assert set(board.called("MappedArray")) == {"lores"}
    grey, _ = frames[0]
    assert grey.shape == (120, 160) and grey.dtype == np.uint8
    assert 0 < float(grey.mean()) < 255
    gaps = np.diff([pts for _, pts in frames])
    assert (gaps >= 80_000).all(), f"more than 10 motion frames a second: {gaps}"
    assert not collector.errors
