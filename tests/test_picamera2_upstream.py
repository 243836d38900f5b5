"""The Picamera2 backend on the real picamera2 package (dev extra), over a fake libcamera.

What runs is picamera2 as installed from the package index: ``Picamera2`` (opening the
camera, ``create_video_configuration``, ``configure``, ``start_recording``, its camera
manager thread and ``process_requests`` event loop, ``capture_array``/``wait``, ``close``),
``CompletedRequest``/``MappedArray``, ``LibavH264Encoder`` (libx264 through PyAV, the
encoder of a Pi 5), ``LibavMjpegEncoder``, the ``Output`` base class, ``DmaAllocator``'s
bookkeeping, ``sensor_modes`` and its choice of a sensor mode, and its camera manager's
``reset``.

What is faked, because it is hardware (tests/fake_libcamera):

* the libcamera bindings: camera manager, one sensor (IMX708, or IMX219) with its modes
  (tests/sensor_modes.py), each mode's controls, properties, configuration validation
  (strides, frame sizes, the sensor configuration), requests completed one a frame
  interval whose buffers are real shared memory written with the sensor's picture;
* the DMA heap: ``memfd_allocator()`` is picamera2's ``DmaAllocator`` with a ``memfd`` in
  place of the ``/dev/dma_heap`` ioctl and no DMA-BUF cache sync; injected through the
  backend's ``allocator``. ``Picamera2.close()`` ends by building a fresh ``DmaAllocator``,
  which fails without ``/dev/dma_heap`` after the camera is released; the backend logs it;
* the V4L2 encoders (``/dev/video11``): the backend's ``software_encoder`` picks
  picamera2's ``LibavH264Encoder``/``LibavMjpegEncoder``; the V4L2 ``H264Encoder`` class is
  checked for the methods and signatures the backend calls, not run;
* the V4L2 sub-devices (``/sys/class/video4linux``, ``/dev/v4l-subdev*``, the control
  ioctls): tests/fake_v4l2.py, whose IMX708 HDR control is the fake sensor's HDR state;
* ``pykms`` (the DRM display binding, apt's python3-kms++): names only, no display.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from hw.camera.annexb import NAL_IDR, NAL_PPS, NAL_SPS, nal_types
from hw.camera.picamera2 import Picamera2Camera, picamera2_features
from hw.camera.picamera2_packets import output_class
from hw.camera.picamera2_subdev import V4L2_CID_WIDE_DYNAMIC_RANGE as WDR
from hw.camera.sim import read_frame_counter
from tests import fake_libcamera
from tests.camera_fixtures import (
    Collector,
    JpegCollector,
    MissingModule,
    decode_packets,
    jpeg_image,
    make_sim_mp4,
    poll_until,
    read_counter_of_jpeg,
    rgb,
)
from tests.fake_v4l2 import FakeSubdevices
from tests.picamera2_standin import load_source
from tests.sensor_modes import IMX219_MODES, IMX708_HDR_MODES, IMX708_MODES

#: EXIF tags: Make, the Exif IFD, ExposureTime and ISOSpeedRatings in it.
EXIF_MAKE, EXIF_IFD, EXIF_EXPOSURE_TIME, EXIF_ISO = 0x010F, 0x8769, 0x829A, 0x8827

pytestmark = [
    pytest.mark.upstream,
    # Picamera2.close() ends by building a DmaAllocator, which finds no /dev/dma_heap here
    # (see the module docstring); the half-built object's __del__ then complains.
    pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <function DmaAllocator.__del__"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
    pytest.mark.filterwarnings(
        r"ignore:setDaemon\(\) is deprecated:DeprecationWarning"
    ),  # its NullPreview
]

#: ``Output.outputframe`` as picamera2 declares it (picamera2/outputs/output.py).
PICAMERA2_OUTPUTFRAME = "(self, frame, keyframe=True, timestamp=None, packet=None, audio=False)"
#: The release installed: the dev extra's pin, or a lane's Raspberry Pi OS release
#: (tests/stacks/*.txt).
PINNED = importlib.metadata.version("picamera2")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """60 pictures of the simulated scene (a frame counter burned in), 320x240 yuv420p."""
    path = make_sim_mp4(tmp_path_factory.mktemp("upstream") / "scene.mp4", frames=60)
    return [frame.yuv for frame in load_source(Path(path))]


@pytest.fixture
def sensor(request: pytest.FixtureRequest, pictures, tmp_path) -> fake_libcamera.Sensor:
    sensor = fake_libcamera.Sensor(pictures=pictures)
    sensor.attach_v4l2(tmp_path / "pi")
    context = fake_libcamera.installed(sensor)
    context.__enter__()
    request.addfinalizer(lambda: context.__exit__(None, None, None))
    return sensor


def make(**kw) -> Picamera2Camera:
    args = {
        "width": 320,
        "height": 240,
        "fps": 30,
        "bitrate": 1_000_000,
        "keyframe_interval_s": 1.0,
        "preview_width": 160,
        "preview_height": 120,
        "frame_timeout_s": 2.0,
        "software_encoder": True,
        "allocator": fake_libcamera.memfd_allocator(),
        "sensor_subdevices": fake_libcamera.active_sensor().v4l2.subdevices(),
    } | kw
    return Picamera2Camera(**args)


def start_and_stop(camera: Picamera2Camera, packets: int = 3) -> Collector:
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(packets)
    finally:
        camera.stop()
    assert not collector.errors
    return collector


def counters(packets) -> list[int]:
    return [read_frame_counter(rgb(frame)) for _, frame in decode_packets(packets)]


def test_the_real_picamera2_is_the_one_imported(sensor):
    import libcamera
    import picamera2
    from picamera2.encoders import LibavH264Encoder

    assert "site-packages" in picamera2.__file__
    assert Path(libcamera.__file__).is_relative_to(fake_libcamera.FAKE_DIR)
    features = picamera2_features()
    assert features.available and features.version == PINNED
    assert features.force_key_frame and features.wait_timeout
    assert callable(LibavH264Encoder.force_key_frame)


def test_the_real_classes_have_what_the_backend_calls(sensor):
    from picamera2 import Picamera2
    from picamera2.encoders.h264_encoder import H264Encoder as V4l2H264Encoder
    from picamera2.outputs import Output

    cls = output_class(Output)
    assert issubclass(cls, Output)
    assert str(inspect.signature(cls.outputframe)) == PICAMERA2_OUTPUTFRAME
    assert str(inspect.signature(Output.outputframe)) == PICAMERA2_OUTPUTFRAME
    # The Pi 4 / Zero 2 W encoder (V4L2, /dev/video11), constructed as the backend does.
    params = inspect.signature(V4l2H264Encoder.__init__).parameters
    assert {"bitrate", "repeat", "iperiod", "framerate"} <= set(params)
    assert callable(V4l2H264Encoder.force_key_frame)
    assert "timeout" in inspect.signature(Picamera2.wait).parameters
    assert "signal_function" in inspect.signature(Picamera2.capture_array).parameters
    assert "buffer_count" in inspect.signature(Picamera2.create_video_configuration).parameters
    assert "allocator" in inspect.signature(Picamera2.__init__).parameters


def test_records_through_picamera2_and_libx264(sensor):
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(45)
    finally:
        camera.stop()
    assert not collector.errors
    packets = collector.snapshot()[:45]
    assert [p.frame_index for p in packets] == list(range(packets[0].frame_index, 45))
    first = packets[0]
    assert first.keyframe and {NAL_SPS, NAL_PPS, NAL_IDR} <= set(nal_types(first.data))
    for p in packets:
        assert p.keyframe == (NAL_IDR in nal_types(p.data))
    steps = {b.pts_us - a.pts_us for a, b in zip(packets, packets[1:], strict=False)}
    assert steps <= {33333, 33334}, steps
    # The decoded pictures are the sensor's, in order, with none lost.
    shown = counters(packets)
    assert shown == [(shown[0] + k) % 60 for k in range(len(shown))]
    # The periodic IDR (iperiod = 30 frames at 1 s).
    keys = [p.frame_index for p in packets if p.keyframe]
    assert keys[:2] == [0, 30]
    (main, lores, _raw) = sensor.configured
    assert main[:2] == ("YUV420", (320, 240)) and lores[:2] == ("YUV420", (160, 120))
    assert main[2] == camera.buffer_count == 6  # below 720p: picamera2's default


def test_buffer_count_reaches_libcamera(sensor):
    camera = make(buffer_count=3)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(10)
    finally:
        camera.stop()
    assert [buffers for _, _, buffers in sensor.configured] == [3, 3, 3]
    assert sensor.queued_max <= 3
    assert Picamera2Camera(width=1920, height=1080).buffer_count == 4


def pyav_takes_pict_type_letter() -> bool:
    """What picamera2's LibavH264Encoder does for a forced keyframe, tried on PyAV."""
    import av

    frame = av.VideoFrame(16, 16, "yuv420p")
    try:
        frame.pict_type = "I"
    except TypeError:
        return False
    return True


def test_keyframe_requests_never_stop_the_camera(sensor):
    camera = make(keyframe_interval_s=1.0)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert camera.keyframe_on_request is pyav_takes_pict_type_letter()
        assert collector.wait_for_count(8)
        camera.request_keyframe()
        asked_after = collector.snapshot()[-1].frame_index
        allowed = round(camera.max_keyframe_delay_s * 30)
        assert collector.wait_until(
            lambda: any(p.keyframe and p.frame_index > asked_after for p in collector.packets)
        )
        for _ in range(3):
            camera.request_keyframe()
        assert collector.wait_for_count(asked_after + 45)  # the camera goes on
    finally:
        camera.stop()
    assert not collector.errors
    key = next(p for p in collector.snapshot() if p.keyframe and p.frame_index > asked_after)
    assert key.frame_index - asked_after <= allowed
    assert {NAL_SPS, NAL_PPS} <= set(nal_types(key.data))
    if camera.keyframe_on_request:
        assert allowed < 30  # forced: well before the periodic IDR


@pytest.mark.filterwarnings(
    "ignore:Exception in thread:pytest.PytestUnhandledThreadExceptionWarning"
)
def test_why_a_forced_keyframe_is_not_asked_of_libav_on_this_pyav(sensor):
    """picamera2's own force_key_frame, on a PyAV that rejects ``pict_type = "I"``."""
    if pyav_takes_pict_type_letter():
        pytest.skip("this PyAV takes picamera2's forced keyframe")
    camera = make(frame_timeout_s=1.0)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        camera._h264.force_key_frame()  # what request_keyframe() would do without the test
        # The TypeError is raised on picamera2's event-loop thread, which ends: frames stop.
        assert collector.error_event.wait(10)
        assert "no frame" in str(collector.errors[0])
    finally:
        camera.stop()  # bounded, though Picamera2.stop() waits for the dead loop
    assert not camera.is_running


def test_still_and_preview_through_picamera2(sensor):
    camera = make()
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(5)
        asked_after = counters(collector.snapshot())[-1]
        jpeg = camera.capture_still(timeout_s=5.0)
        sink = JpegCollector()
        camera.set_preview_sink(sink)
        assert sink.wait_for_count(3)
        camera.set_preview_sink(None)
    finally:
        camera.stop()
    assert jpeg_image(jpeg).size == (320, 240)
    assert read_counter_of_jpeg(jpeg) in {(asked_after + k) % 60 for k in range(1, 6)}
    # picamera2 encoded it (capture_file) and wrote its EXIF from the frame's metadata.
    exif = jpeg_image(jpeg).getexif()
    assert exif[EXIF_MAKE] == "Raspberry Pi"
    assert exif.get_ifd(EXIF_IFD)[EXIF_EXPOSURE_TIME] == 20_000 / 1_000_000
    assert exif.get_ifd(EXIF_IFD)[EXIF_ISO] == 200  # analogue x digital gain x 100
    assert jpeg_image(sink.items[0][0]).size == (160, 120)
    assert not collector.errors


class HoldingOverlay:
    """An overlay that, once armed, holds picamera2's camera thread up (its
    ``pre_callback``) until released, as any slow work on that thread would."""

    def __init__(self) -> None:
        self.armed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def draw_i420(self, array, wall_s: float) -> None:
        if self.armed.is_set() and not self.holding.is_set():
            self.holding.set()
            self.release.wait(10)


def frame_gaps(packets, interval_us: int = 33_333) -> list[int]:
    """The steps between consecutive packets' pts longer than one frame interval."""
    steps = [b.pts_us - a.pts_us for a, b in zip(packets, packets[1:], strict=False)]
    return [step for step in steps if step > interval_us + 1]


def test_a_held_up_camera_thread_loses_frames(pictures, tmp_path):
    """The check of the next test can fail: on a sensor that loses a frame when no buffer
    is queued, as a Pi's does, picamera2's camera thread held up for longer than its spare
    buffers last loses frames, and the packets' timestamps show the gap."""
    sensor = fake_libcamera.Sensor(pictures=pictures, drop_without_buffer=True)
    sensor.attach_v4l2(tmp_path / "pi")
    hold = HoldingOverlay()
    with fake_libcamera.installed(sensor):
        camera = make(width=1280, height=720, overlay=hold)
        collector = Collector()
        camera.start(collector.on_packet, collector.on_error)
        try:
            assert collector.wait_for_count(15)
            hold.armed.set()
            assert hold.holding.wait(5)
            assert poll_until(lambda: sensor.frames_dropped >= 3, 5)
            hold.release.set()
            assert collector.wait_for_count(collector.count + 15)
        finally:
            hold.release.set()
            camera.stop()
    assert camera.buffer_count == 4
    assert frame_gaps(collector.snapshot()), "the lost frames left no gap in the timestamps"


def test_a_still_during_recording_costs_no_frame(pictures, tmp_path):
    """Finding 8: picamera2 encodes the still (capture_file, simplejpeg) on its camera
    thread, before the encoders get the frame; at 1280x720 with the 4 buffers of a
    Zero 2 W's configuration that costs no frame: the packets around each still follow
    one another at the frame interval and the sensor loses none.

    At 10 frames a second here: the three spare buffers then last 300 ms, which a still
    takes on a loaded test machine (at 30 the stack lanes beside the suite once lost three
    frames); how long a still holds the camera thread on a Pi is a benchmark's figure."""
    sensor = fake_libcamera.Sensor(pictures=pictures, drop_without_buffer=True)
    sensor.attach_v4l2(tmp_path / "pi")
    windows = []
    with fake_libcamera.installed(sensor):
        camera = make(width=1280, height=720, fps=10)
        collector = Collector()
        camera.start(collector.on_packet, collector.on_error)
        try:
            assert collector.wait_for_count(15)
            for _ in range(5):
                before = collector.count
                assert jpeg_image(camera.capture_still(timeout_s=5.0)).size == (1280, 720)
                assert collector.wait_for_count(collector.count + 5)
                windows.append((before - 1, collector.count))
        finally:
            camera.stop()
    assert not collector.errors
    packets = collector.snapshot()
    for first, last in windows:
        gaps = frame_gaps(packets[first:last], interval_us=100_000)
        assert gaps == [], (first, last, sensor.frames_dropped)
    assert sensor.frames_dropped == 0


def test_a_slow_sink_does_not_stall_the_camera_thread(sensor):
    """LibavH264Encoder calls outputframe on the camera thread, holding Picamera2.lock."""
    camera = make(packet_queue=8)
    release = threading.Event()
    entered = threading.Event()
    delivered = []

    def slow_sink(packet) -> None:
        delivered.append(packet)
        if len(delivered) == 3:
            entered.set()
            release.wait(30)  # the disk hangs

    errors = []
    camera.start(slow_sink, errors.append)
    try:
        assert entered.wait(10)
        at_block = sensor.frames_delivered
        # The camera goes on: frames complete, the encoder runs, a still can be taken.
        assert poll_until(lambda: sensor.frames_delivered >= at_block + 20, 10)
        assert jpeg_image(camera.capture_still(timeout_s=5.0)).size == (320, 240)
        assert camera.packets_dropped > 0
        assert len(delivered) == 3
        release.set()
        resumed = len(delivered)
        assert poll_until(lambda: len(delivered) >= resumed + 35, 10)
    finally:
        release.set()
        camera.stop()
    assert not errors
    # The packets queued before the overflow come in order; after the gap the stream
    # resumes at a keyframe with its SPS/PPS, and all of it decodes.
    gaps = [
        i
        for i in range(1, len(delivered))
        if delivered[i].pts_us - delivered[i - 1].pts_us > 50_000
    ]
    assert len(gaps) == 1, gaps
    resumed_at = delivered[gaps[0]]
    assert resumed_at.keyframe and {NAL_SPS, NAL_PPS} <= set(nal_types(resumed_at.data))
    shown = counters(delivered)
    for part in (shown[: gaps[0]], shown[gaps[0] :]):
        assert part == [(part[0] + k) % 60 for k in range(len(part))]
    assert [p.frame_index for p in delivered] == list(range(len(delivered)))


def test_hdr_that_could_not_be_set_is_reported(sensor, caplog, tmp_path):
    caplog.set_level(logging.WARNING, logger="hw.camera.picamera2")
    no_node = FakeSubdevices(tmp_path / "no-sensor-node")
    camera = make(hdr=True, sensor_subdevices=no_node.subdevices())
    start_and_stop(camera)
    assert camera.model == "imx708_wide" and camera.hdr_active is False
    text = caplog.text
    assert "cannot set the IMX708 HDR mode (on): no V4L2 sub-device of imx708" in text
    assert "IMX708 sensor HDR is off though on was asked for" in text


def test_hdr_switched_on_is_seen_after_picamera2s_camera_manager_reset(sensor, caplog):
    """The control is written before the camera opens; picamera2's camera manager (kept
    since ``global_camera_info``) is reset, so libcamera reads the HDR modes again."""
    caplog.set_level(logging.INFO, logger="hw.camera.picamera2")
    camera = make(hdr=True)
    start_and_stop(camera)
    assert sensor.v4l2.set_calls() == [("v4l-subdev2", WDR, 1)]
    assert sensor.hdr is True and camera.hdr_active is True
    assert sensor.mode == IMX708_HDR_MODES[0]
    assert "IMX708 sensor HDR switched on" in caplog.text
    assert "sensor HDR is" not in caplog.text and "cannot set" not in caplog.text
    start_and_stop(make(hdr=False))  # and back off: the full set of modes again
    assert sensor.hdr is False and sensor.mode == IMX708_MODES[1]


def test_hdr_never_imports_picamera2_devices_nor_opencv(sensor):
    """Finding 2: ``picamera2.devices`` imports the IMX500's packages (OpenCV in 0.3.22 to
    0.3.36; OpenEXR, jsonschema, libarchive, tqdm in 0.3.38), none of which a camera
    needs; on a Pi without python3-opencv the HDR could not be set at all."""
    with MissingModule("cv2") as opencv:
        camera = make(hdr=True)
        start_and_stop(camera)
    assert opencv.attempts == []
    assert "picamera2.devices" not in sys.modules
    assert camera.hdr_active is True


def test_picamera2_alone_crops_a_camera_module_2(request, pictures, tmp_path):
    """What Finding 7 is about, on picamera2 itself: the mode nearest the output size."""
    imx219 = fake_libcamera.Sensor(pictures=pictures, model="imx219")
    with fake_libcamera.installed(imx219):
        from picamera2 import Picamera2

        picam = Picamera2(allocator=fake_libcamera.memfd_allocator())
        try:
            picam.configure(picam.create_video_configuration(main={"size": (1280, 720)}))
        finally:
            with contextlib.suppress(RuntimeError):  # its closing DmaAllocator: no heap here
                picam.close()
    assert imx219.mode == IMX219_MODES[2]  # 1920x1080, the centre of the sensor


def test_a_camera_module_2_records_its_full_field_of_view(request, pictures, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hw.camera.picamera2")
    imx219 = fake_libcamera.Sensor(pictures=pictures, model="imx219")
    imx219.attach_v4l2(tmp_path / "pi")
    with fake_libcamera.installed(imx219):
        camera = make(width=1280, height=720)
        start_and_stop(camera)
    assert imx219.mode == IMX219_MODES[1]  # 1640x1232, 2x2 binned: the whole sensor
    chosen = camera.sensor_mode.mode
    assert chosen.size == (1640, 1232) and chosen.crop == (0, 0, 3280, 2464)
    main, _lores, raw = imx219.configured
    assert main[:2] == ("YUV420", (1280, 720)) and raw[:2] == ("SRGGB10_CSI2P", (1640, 1232))
    assert "camera picamera2 (imx219): sensor mode 1640x1232 10-bit" in caplog.text


def test_hdr_on_is_seen_in_the_sensor_modes(sensor, caplog):
    sensor.hdr = True  # the sensor is in HDR mode (set before, e.g. by rpicam-hello)
    caplog.set_level(logging.WARNING, logger="hw.camera.picamera2")
    camera = make(hdr=True)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(3)
    finally:
        camera.stop()
    assert camera.hdr_active is True
    assert "sensor HDR is" not in caplog.text


def test_no_camera_attached_is_a_camera_error(sensor):
    from appliance.errors import CameraError

    sensor.attached = False
    with pytest.raises(CameraError, match="no camera 0"):
        make().start(lambda p: None)


def test_the_overlay_is_drawn_in_picamera2s_pre_callback(sensor):
    """The real picamera2 calls the backend's pre_callback on each request; the overlay
    lands on the main stream before the encoder: the decoded video shows it."""
    import datetime as dt

    from appliance.overlay import Overlay

    overlay = Overlay(320, 240, time_zone=dt.UTC)
    wall_s = 1_790_000_000.0
    camera = make(overlay=overlay, wall=lambda: wall_s)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(20)
    finally:
        camera.stop()
    assert not collector.errors
    stamp = overlay.stamp(overlay.text(wall_s))
    decoded = decode_packets(collector.snapshot()[:20])
    assert len(decoded) >= 15
    for _, frame in decoded:
        y = frame.to_ndarray(format="gray")
        assert y[stamp.fill_rows, stamp.fill_cols].mean() > 180
        assert y[stamp.edge_rows, stamp.edge_cols].mean() < 80
    # the scene itself is untouched elsewhere: the frame counter still reads
    assert counters(collector.snapshot()[:20])


def test_an_overlay_that_cannot_be_drawn_never_stops_the_camera(sensor, caplog):
    from appliance.overlay import Overlay

    camera = make(overlay=Overlay(640, 480))  # the wrong size for this stream
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert collector.wait_for_count(15)
    finally:
        camera.stop()
    assert not collector.errors
    assert sum("the overlay cannot be drawn" in r.message for r in caplog.records) == 1


def test_motion_frames_come_from_the_real_lores_stream_without_the_overlay(sensor):
    """The real picamera2's MappedArray of the lores stream gives the motion frames; the
    overlay drawn on the main stream in the same pre_callback is not in them."""
    import datetime as dt

    from appliance.overlay import Overlay
    from hw.camera.sim import read_frame_counter

    camera = make(
        overlay=Overlay(320, 240, time_zone=dt.UTC), preview_width=320, preview_height=240
    )
    frames: list[tuple[np.ndarray, int]] = []
    enough = threading.Event()

    def sink(grey: np.ndarray, pts_us: int) -> None:
        frames.append((grey, pts_us))
        if len(frames) >= 4:
            enough.set()

    camera.set_motion_sink(sink, fps=5)
    collector = Collector()
    camera.start(collector.on_packet, collector.on_error)
    try:
        assert enough.wait(15)
    finally:
        camera.stop()
    assert not collector.errors
    grey, _ = frames[0]
    assert grey.shape == (120, 160)
    # the scene's own frame counter reads in the motion frame: it is the picture
    assert read_frame_counter(grey) >= 0
    gaps = np.diff([pts for _, pts in frames])
    assert (gaps >= 190_000).all(), f"more than 5 motion frames a second: {gaps}"
