"""The Picamera2 backend against the stand-in picamera2 (tests/picamera2_standin).

The camera contract runs in ``test_camera_contract.py``; here: how the backend drives
picamera2 (configuration, encoders, outputs, controls) and how camera failures reach the
appliance's ERROR state and recover.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

from appliance.config import Config
from appliance.controller import Controller
from appliance.errors import CameraError
from appliance.library import Library
from appliance.states import Event, State
from hw.camera_picamera2 import Picamera2Camera, yuv420_to_frame
from hw.h264 import NAL_PPS, NAL_SPS, nal_types, split_nal_units
from tests import picamera2_standin
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    jpeg_image,
    make_sim_mp4,
    read_counter_of_jpeg,
)
from tests.harness import SMALL, wait_until

#: ``Output.outputframe`` as picamera2 declares it (picamera2/outputs/output.py).
PICAMERA2_OUTPUTFRAME = "(self, frame, keyframe=True, timestamp=None, packet=None, audio=False)"


@pytest.fixture(scope="module")
def source_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 frames of the simulated camera, 320x240 at 30 fps, an IDR every 0.5 s."""
    return make_sim_mp4(tmp_path_factory.mktemp("picamera2") / "sensor.mp4")


@pytest.fixture
def board(request: pytest.FixtureRequest, source_mp4: Path) -> picamera2_standin.Board:
    return picamera2_standin.install_for(
        request, picamera2_standin.Board(source=source_mp4, realtime=True)
    )


def make(**kw) -> Picamera2Camera:
    args = {
        "width": 320,
        "height": 240,
        "fps": 30,
        "bitrate": 1_500_000,
        "preview_width": 160,
        "preview_height": 120,
        "frame_timeout_s": 1.0,
    } | kw
    return Picamera2Camera(**args)


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
    assert board.hdr_mode is False  # IMX708 found: its HDR control set to the setting
    assert board.called("close") == [None]


def test_no_autofocus_control_without_af_and_hdr_on(board):
    board.has_autofocus = False
    camera = make(hdr=True)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    camera.stop()
    (config,) = board.called("configure")
    assert "AfMode" not in config["controls"]
    assert board.called("set_sensor_hdr_mode") == [True]


def test_the_output_is_called_as_picamera2_calls_it(board):
    from picamera2.outputs import Output

    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    assert collector.wait_for_count(40)
    camera.stop()
    from hw.camera_picamera2 import _output_classes

    packet_output, jpeg_output = _output_classes(Output)
    for cls in (packet_output, jpeg_output):
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
        assert controller.wait_for_state(State.IDLE, timeout_s=10)
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
