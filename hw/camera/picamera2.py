"""Picamera2 backend: the Pi camera through libcamera, encoded by the Pi's H.264 encoder.

* Video: the main stream (YUV420, ``width`` x ``height``) goes to picamera2's
  ``H264Encoder`` (Annex B, SPS/PPS repeated before every IDR, an IDR every
  ``keyframe_interval_s``), or with ``software_encoder`` to its ``LibavH264Encoder``. The
  encoder calls ``outputframe(frame, keyframe, timestamp[, packet, audio])`` of a picamera2
  ``Output`` from its own thread, or (``LibavH264Encoder``) from the camera thread; the
  buffers reach ``on_packet`` through a bounded queue and a delivery thread, a keyframe
  being a buffer with an IDR slice and its SPS/PPS in-line (see
  :mod:`hw.camera.picamera2_packets`). Buffers dropped there are ``packets_dropped``.
* Releases: ``H264Encoder.force_key_frame`` (picamera2 0.3.32), ``Picamera2.wait(job,
  timeout=)`` (0.3.17) and the JPEG of a YUV420 stream by ``capture_file`` (0.3.26) are
  feature-tested (:mod:`hw.camera.picamera2_features`); without them a requested keyframe
  is the next periodic IDR, a still waits through a signal function, and the still is
  encoded here.
* Sensor mode: the mode that reads the whole sensor at the frame rate
  (:mod:`hw.camera.picamera2_modes`), asked for with ``sensor=`` (picamera2 0.3.16 on) or,
  before, a raw stream of its size; picamera2's own choice follows the main stream's size
  and crops a Camera Module 2 at 1080p.
* HDR: a Camera Module 3's (IMX708) sensor HDR is its V4L2 control, written before the
  camera opens when it differs (:mod:`hw.camera.picamera2_subdev`, not picamera2's
  ``devices`` package, which imports OpenCV); other cameras get the ISP's ``HdrMode``.
* Preview: the lores stream (YUV420, preview size) goes to picamera2's ``MJPEGEncoder``,
  started only while a preview sink is set and stopped when it is cleared.
* Stills: ``capture_file(buf, name="main", format="jpeg")`` encodes the next main-stream
  frame (simplejpeg, with picamera2's EXIF) while the encoders go on; before picamera2
  0.3.26 ``capture_array("main")`` copies it and it is encoded here.
* Errors: a camera that cannot be opened raises :class:`CameraError` from :meth:`start`;
  one that stops delivering frames (a loose ribbon cable, a wedged ISP) is reported once
  through ``on_error`` after ``frame_timeout_s``, and the controller retries. A stop that
  picamera2 does not finish within ``CLOSE_TIMEOUT_S`` leaves the camera held by this
  process (picamera2 #1264: ``stop_recording`` blocks after a frontend timeout); every
  later :meth:`start` raises :class:`CameraStuck` instead of failing to acquire it.

picamera2 and libcamera are imported only in :meth:`Picamera2Camera.start`, so this module
imports anywhere; off a Pi, tests put a stand-in ``picamera2`` package on the path.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from appliance.errors import CameraError, CameraStuck
from appliance.overlay import Overlay
from appliance.ports import ErrorSink, JpegSink, MotionSink, PacketSink
from appliance.worker import Worker, run_once
from hw.camera.base import (
    STILL_JPEG_QUALITY,
    CameraBase,
    LatestWorker,
    check_rate,
    frame_to_jpeg,
    grey_thumbnail,
    stream_info,
)
from hw.camera.picamera2_features import Picamera2Features, features_of, picamera2_features
from hw.camera.picamera2_modes import ModeChoice, choose_sensor_mode, sensor_config, takes_sensor
from hw.camera.picamera2_packets import H264Delivery, output_class
from hw.camera.picamera2_subdev import SensorSubdevices, reset_camera_manager

__all__ = [
    "BUFFER_COUNT_HD",
    "BUFFER_COUNT_SD",
    "Picamera2Camera",
    "Picamera2Features",
    "picamera2_features",
]

log = logging.getLogger(__name__)

#: Longest wait for the first frame after start (sensor start-up, AE settling).
FIRST_FRAME_TIMEOUT_S = 5.0

#: Encoded buffers waiting for ``on_packet``, in seconds of video, before they are dropped.
PACKET_QUEUE_S = 2.0

#: Longest wait in :meth:`Picamera2Camera.stop` for the delivery thread (a stuck sink).
DELIVERY_JOIN_TIMEOUT_S = 5.0

#: Longest wait in :meth:`Picamera2Camera.stop` for picamera2 to stop and close: its
#: ``stop`` waits for its event loop, which an exception on the camera thread ends.
CLOSE_TIMEOUT_S = 5.0

#: Frame buffers at 720p and above: picamera2's default of 6 sets of raw + main + lores
#: buffers failed to allocate where 5 or fewer worked (picamera2 issue #972, a Pi 4 with
#: 512 MB of CMA), and older set-ups of a Zero 2 W had 64 MB of CMA (256 MB now, see
#: hw/doctor.py). Below 720p picamera2's 6 are kept.
BUFFER_COUNT_HD = 4
BUFFER_COUNT_SD = 6

#: The IMX708's largest sensor mode with its sensor HDR on (4608x2592 without): in HDR mode
#: the sensor offers this one mode, so ``Picamera2.sensor_resolution`` shows the state.
IMX708_HDR_SIZE = (2304, 1296)


def yuv420_to_frame(array: np.ndarray, width: int, height: int) -> av.VideoFrame:
    """A picamera2 YUV420 array to a PyAV ``yuv420p`` frame.

    Args:
        array: ``capture_array`` of a YUV420 stream: ``(height * 3 // 2, stride)`` bytes,
            the Y plane with ``stride`` bytes a row, then U and V with ``stride // 2``.
        width: Picture width in pixels.
        height: Picture height in pixels.

    Returns:
        The frame, without the stride padding.
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    stride = flat.size * 2 // (height * 3)
    if stride < width or stride * height * 3 != flat.size * 2:
        raise CameraError(f"YUV420 array of shape {array.shape} does not fit {width}x{height}")
    half_w, half_h, half_stride = width // 2, height // 2, stride // 2
    y_end = stride * height
    u_end = y_end + half_stride * half_h
    y = flat[:y_end].reshape(height, stride)[:, :width]
    u = flat[y_end:u_end].reshape(half_h, half_stride)[:, :half_w]
    v = flat[u_end : u_end + half_stride * half_h].reshape(half_h, half_stride)[:, :half_w]
    planar = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return av.VideoFrame.from_ndarray(planar.reshape(height * 3 // 2, width), format="yuv420p")


class Picamera2Camera(CameraBase):
    """The Raspberry Pi camera through picamera2.

    Args:
        width: Main stream (video and still) width in pixels.
        height: Main stream height in pixels.
        fps: Frames per second (the sensor's frame duration is pinned to it).
        bitrate: H.264 bit rate in bits per second.
        keyframe_interval_s: Time between IDR frames.
        preview_width: Lores stream (preview JPEG) width.
        preview_height: Lores stream height.
        preview_fps: Most preview JPEGs per second.
        rotation: 0 or 180 degrees (the camera mounted upside down).
        hflip: Mirror left-right (on top of ``rotation``).
        vflip: Mirror top-bottom (on top of ``rotation``).
        hdr: Sensor HDR on a Camera Module 3 (IMX708), else the ISP's HDR where offered.
        autofocus: Continuous autofocus when the camera has it (Camera Module 3).
        camera_num: Which camera, as picamera2 numbers them.
        frame_timeout_s: No frame for this long while running is reported as an error.
        name: Camera name (``info.name``).
        software_encoder: Encode with picamera2's ``LibavH264Encoder`` and
            ``LibavMjpegEncoder`` (libx264 and libavcodec on the CPU) instead of the
            platform's ``H264Encoder`` and ``MJPEGEncoder`` (which, on a Pi 5, are those).
        buffer_count: Frame buffer sets; None: 4 at 720p and above, else 6.
        allocator: The picamera2 allocator of frame buffers, given to ``Picamera2``; None:
            picamera2's own (``DmaAllocator``, the DMA heap of the Pi).
        overlay: Burns the date and time into the main stream in picamera2's
            ``pre_callback``, before the encoder sees the frame; None: no overlay.
        wall: The wall clock the overlay shows.
        packet_queue: Encoded buffers that may wait for ``on_packet``; None: 2 s of video.
        sensor_subdevices: The sensors' V4L2 sub-devices (the IMX708's HDR control);
            None: the system's (``/sys``, ``/dev``).

    Attributes:
        keyframe_interval_s: Time between periodic keyframes.
        keyframe_on_request: After start: the encoder can force an IDR
            (``force_key_frame``); False when a request waits for the next periodic IDR;
            None before the first start.
        hdr_active: After start on an IMX708: its sensor HDR is on; else None.
        sensor_mode: After start: the sensor mode chosen and why (mode None: picamera2
            chose it).
        software_encoder: picamera2's libav encoders are used (see Args).
        buffer_count: Frame buffer sets asked of picamera2.
        preview_frames_encoded: Preview JPEGs the MJPEG encoder produced.
    """

    #: Why this process can no longer open the camera (a close that timed out), or None.
    _stuck: str | None = None

    def __init__(
        self,
        *,
        width: int = 1920,
        height: int = 1080,
        fps: int = 30,
        bitrate: int = 8_000_000,
        keyframe_interval_s: float = 1.0,
        preview_width: int = 640,
        preview_height: int = 360,
        preview_fps: float = 10,
        rotation: int = 0,
        hflip: bool = False,
        vflip: bool = False,
        hdr: bool = False,
        autofocus: bool = True,
        camera_num: int = 0,
        frame_timeout_s: float = 2.0,
        name: str = "picamera2",
        software_encoder: bool = False,
        buffer_count: int | None = None,
        packet_queue: int | None = None,
        allocator: Any = None,
        overlay: Overlay | None = None,
        wall: Callable[[], float] = time.time,
        sensor_subdevices: SensorSubdevices | None = None,
    ) -> None:
        info = stream_info(
            name,
            (width, height),
            fps,
            preview=(preview_width, preview_height, preview_fps),
            bitrate=bitrate,
            keyframe_interval_s=keyframe_interval_s,
        )
        if rotation not in (0, 180):
            raise ValueError(f"rotation must be 0 or 180, got {rotation!r}")
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be > 0, got {frame_timeout_s!r}")
        if buffer_count is None:
            buffer_count = BUFFER_COUNT_HD if width * height >= 1280 * 720 else BUFFER_COUNT_SD
        if not isinstance(buffer_count, int) or not 2 <= buffer_count <= 16:
            raise ValueError(f"buffer_count must be an integer in 2..16, got {buffer_count!r}")
        if packet_queue is None:
            packet_queue = max(8, round(PACKET_QUEUE_S * fps))
        if not isinstance(packet_queue, int) or packet_queue < 1:
            raise ValueError(f"packet_queue must be a positive integer, got {packet_queue!r}")
        super().__init__(info, preview_fps)
        self._bitrate = bitrate
        self._rate = (fps, bitrate)  # set_video_rate's; the sensor and encoder start at it
        self._gop_frames = max(1, round(keyframe_interval_s * fps))
        self.keyframe_interval_s = self._gop_frames / fps
        self.keyframe_on_request: bool | None = None
        self.hdr_active: bool | None = None
        self.sensor_mode: ModeChoice | None = None
        self._subdevices = sensor_subdevices or SensorSubdevices()
        self._modes_read: dict[tuple[Any, ...], list[Any]] = {}
        self.software_encoder = bool(software_encoder)
        self.buffer_count = buffer_count
        self._delivery = H264Delivery(name, packet_queue, self.request_keyframe)
        self._allocator = allocator
        self.overlay = overlay
        self._wall = wall
        self._overlay_failed = False
        self._motion_sink: MotionSink | None = None
        self._motion_period_us = 200_000
        self._next_motion_us: int | None = None
        self._motion_worker: LatestWorker | None = None
        self._motion_failed = False
        #: Motion frames given to the motion sink so far.
        self.motion_frames = 0
        self._hflip = bool(hflip) ^ (rotation == 180)
        self._vflip = bool(vflip) ^ (rotation == 180)
        self._hdr = hdr
        self._autofocus = autofocus
        self._camera_num = camera_num
        self._frame_timeout_s = frame_timeout_s

        self._picam: Any = None
        self._h264: Any = None
        self._mjpeg: Any = None
        self._output: type | None = None
        self._watch: Worker | None = None
        self._preview_period_us = int(1_000_000 / preview_fps)
        self._last_preview_us: int | None = None
        self._started_mono = 0.0
        self._last_frame_mono: float | None = None
        self.model: str | None = None
        self._wait_timeout = True
        self._jpeg_capture = False
        self._keyframe_warning_given = False

    @property
    def packets_dropped(self) -> int:
        """Encoded buffers dropped: the queue to ``on_packet`` was full, or they came after
        such a drop and before the next IDR."""
        return self._delivery.dropped

    @property
    def max_keyframe_delay_s(self) -> float:
        """Longest time from :meth:`request_keyframe` to a keyframe.

        Three frame intervals when the encoder can force an IDR (it applies to the next
        frame the encoder takes; one or two may be in flight); else the periodic IDR's
        interval plus those three.
        """
        frames = 3 if self.keyframe_on_request is not False else self._gop_frames + 3
        return frames / self._info.fps

    # -- Camera interface -------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True between a successful start and stop, until a failure."""
        return self._picam is not None and not self._stop_event.is_set()

    def start(self, on_packet: PacketSink, on_error: ErrorSink | None = None) -> None:
        """Open the camera, start the H.264 encoder and deliver its packets.

        Raises:
            CameraError: picamera2 is missing, no camera is attached, or it cannot be
                configured or started; or the camera is already running.
            CameraStuck: An earlier stop could not close the camera.
        """
        with self._lock:
            if self._stuck is not None:
                raise CameraStuck(self._stuck)
            if self._picam is not None:
                raise CameraError(f"camera {self._name!r} is already running")
            try:
                import picamera2
                from libcamera import Transform, controls
                from picamera2 import Picamera2
                from picamera2.encoders import H264Encoder
                from picamera2.outputs import Output

                if self.software_encoder:
                    from picamera2.encoders import LibavH264Encoder as H264Encoder
            except ImportError as exc:
                raise CameraError(f"picamera2 is not available: {exc}") from exc
            self._note_features(features_of(picamera2, H264Encoder, Picamera2))
            self._output = output_class(Output)
            self._begin(on_packet, on_error)
            self._last_frame_mono = None
            self._last_preview_us = None
            self._set_sensor_hdr(Picamera2)
            try:
                extra = {} if self._allocator is None else {"allocator": self._allocator}
                picam = Picamera2(self._camera_num, **extra)
            except Exception as exc:  # noqa: BLE001 - IndexError when none, RuntimeError, ...
                raise CameraError(f"no camera {self._camera_num}: {exc}") from exc
            self._check_sensor_hdr(picam)
            self._delivery.start(on_packet, self._stop_event, self._thread_failed)
            try:
                self._configure(picam, Transform, controls)
                self._set_pre_callback(picam)
                fps, bitrate = self._rate
                encoder = H264Encoder(
                    bitrate=bitrate,
                    repeat=True,
                    iperiod=max(1, round(self.keyframe_interval_s * fps)),
                    framerate=fps,
                )
                output = self._output(self._on_h264, encoder)
                self._picam, self._h264 = picam, encoder
                self._started_mono = time.monotonic()
                picam.start_recording(encoder, output, name="main")
                if self._preview_sink is not None:
                    self._start_preview()
            except Exception as exc:  # noqa: BLE001 - whatever libcamera raises
                self._picam = self._h264 = None
                self._stop_event.set()
                self._close_quietly(picam)
                self._delivery.stop(DELIVERY_JOIN_TIMEOUT_S)
                raise CameraError(f"camera {self._camera_num} failed to start: {exc}") from exc
            self._motion_worker = LatestWorker(
                self._motion_work, f"camera-{self._name}-motion", self._thread_failed
            )
            self._watch = Worker(
                self._watch_frames, f"camera-{self._name}-watch", on_error=self._thread_failed
            ).start()

    def stop(self) -> None:
        """Stop the encoders and the camera and close it. Idempotent."""
        self._stop_event.set()
        with self._lock:
            picam, self._picam = self._picam, None
            watch, self._watch = self._watch, None
            motion, self._motion_worker = self._motion_worker, None
            self._h264 = self._mjpeg = None
        if watch is not None:
            watch.stop()
        if motion is not None:
            motion.stop()
        if picam is not None:
            self._close_bounded(picam)
        self._delivery.stop(DELIVERY_JOIN_TIMEOUT_S)

    @property
    def video_rate(self) -> tuple[int, int]:
        """``(fps, bitrate)`` the sensor and the encoder were last set to."""
        return self._rate

    def set_video_rate(self, fps: int, bitrate: int) -> bool:
        """Run the sensor at ``fps`` (libcamera's ``FrameDurationLimits``, taken while the
        camera runs) and ask for a keyframe.

        The bit rate is the H.264 encoder's, set when it starts: picamera2 gives no way to
        change it on a running encoder, so it takes effect at the next start (a lower frame
        rate at the same bit rate spends more bits on each frame). The sensor's rate applies
        from the next start too if the camera is not running.

        Returns:
            True (the frame rate is set, or kept for the next start).

        Raises:
            ValueError: A rate out of the backend's bounds.
        """
        check_rate(fps, bitrate)
        with self._lock:
            self._rate = (fps, bitrate)
            picam = self._picam
            if picam is None or self._stop_event.is_set():
                return True
            frame_us = round(1_000_000 / fps)
            try:
                picam.set_controls({"FrameDurationLimits": (frame_us, frame_us)})
            except Exception:  # noqa: BLE001 - the video goes on at its old rate
                log.exception("camera %s: the frame rate cannot be changed", self._name)
                return False
        log.info("camera %s: %d fps (bit rate %d from the next start)", self._name, fps, bitrate)
        self.request_keyframe()
        return True

    def request_keyframe(self) -> None:
        """Ask the H.264 encoder for an IDR as soon as possible.

        Without ``force_key_frame`` (picamera2 before 0.3.32), or with a
        ``LibavH264Encoder`` whose forced keyframe PyAV rejects (see
        :class:`Picamera2Features`), this does nothing: the next periodic IDR, at most
        ``keyframe_interval_s`` away, is the answer (see :attr:`max_keyframe_delay_s`).
        It never raises.
        """
        encoder = self._h264
        force = getattr(encoder, "force_key_frame", None)
        if force is None or not self.keyframe_on_request:
            return
        try:
            force()
        except Exception:  # noqa: BLE001 - the periodic IDR still comes
            log.exception("force_key_frame failed")

    def capture_still(self, timeout_s: float = 5.0) -> bytes:
        """A JPEG of the next main-stream frame; the video goes on.

        Raises:
            CameraError: The camera is not running or gave no frame in time.
        """
        picam = self._picam
        if picam is None or not self.is_running:
            raise CameraError(f"camera {self._name!r} is not running")
        jpeg = io.BytesIO()
        if self._jpeg_capture:
            capture = functools.partial(picam.capture_file, jpeg, name="main", format="jpeg")
        else:  # picamera2 before 0.3.26 cannot encode a YUV420 stream
            capture = functools.partial(picam.capture_array, "main")
        try:
            array = self._wait_bounded(picam, capture, timeout_s)
        except TimeoutError as exc:
            raise CameraError(f"camera gave no still in {timeout_s} s") from exc
        except Exception as exc:  # noqa: BLE001 - a failed still is a camera error
            raise CameraError(f"still failed: {exc}") from exc
        if self._jpeg_capture:
            return jpeg.getvalue()
        info = self._info
        frame = yuv420_to_frame(array, info.width, info.height)
        return frame_to_jpeg(frame, info.still_width, info.still_height, STILL_JPEG_QUALITY)

    def set_preview_sink(self, sink: JpegSink | None) -> None:
        """Run the lores MJPEG encoder into ``sink``; ``None`` stops the encoder."""
        with self._lock:
            self._preview_sink = sink
            if self._picam is None or self._stop_event.is_set():
                return
            if sink is not None and self._mjpeg is None:
                try:
                    self._start_preview()
                except Exception:  # noqa: BLE001 - the video goes on without a preview
                    log.exception("preview encoder failed to start")
            elif sink is None and self._mjpeg is not None:
                encoder, self._mjpeg = self._mjpeg, None
                try:
                    self._picam.stop_encoder(encoder)
                except Exception:  # noqa: BLE001
                    log.exception("preview encoder failed to stop")

    # -- internals --------------------------------------------------------------------

    def _wait_bounded(self, picam: Any, capture: Callable[..., Any], timeout_s: float) -> Any:
        """Run a picamera2 capture and wait at most ``timeout_s`` for its result.

        Raises:
            TimeoutError: No frame came in time.
        """
        if self._wait_timeout:
            return picam.wait(capture(wait=False), timeout=timeout_s)
        # picamera2 before 0.3.17: wait(job) cannot time out; bound it here.
        done = threading.Event()
        job = capture(signal_function=lambda _job: done.set())
        if not done.wait(timeout_s):
            raise TimeoutError(f"no frame in {timeout_s} s")
        return picam.wait(job)

    def _note_features(self, features: Picamera2Features) -> None:
        """Take the installed picamera2's features; warn once if keyframes must wait."""
        self.keyframe_on_request = features.keyframe_on_request
        self._wait_timeout = features.wait_timeout
        self._jpeg_capture = features.jpeg_capture
        if features.keyframe_on_request or self._keyframe_warning_given:
            return
        self._keyframe_warning_given = True  # once for this camera, not on every restart
        if not features.force_key_frame:
            why = "its H.264 encoder has no force_key_frame (picamera2 0.3.32 and later have it)"
        else:
            why = f"PyAV {av.__version__} rejects the picture type {features.encoder} sets"
        log.warning(
            "picamera2 %s: %s; a new segment starts at the next periodic keyframe, up to "
            "%.2f s later",
            features.version or "(version unknown)",
            why,
            self.keyframe_interval_s,
        )

    def _set_sensor_hdr(self, picamera2_class: Any) -> None:
        """Switch the IMX708's sensor HDR to the wanted setting before the camera opens.

        The control is written only when it differs; then picamera2's camera manager is
        reset, so that the camera opened next sees the sensor's new modes. A failure is a
        warning: the camera records in the mode the sensor has.
        """
        try:
            cameras = picamera2_class.global_camera_info()
        except Exception:  # noqa: BLE001 - no camera: Picamera2() will say so
            return
        info = next((c for c in cameras if c.get("Num") == self._camera_num), {})
        model = str(info.get("Model", ""))
        self.model = model or None
        if not model.startswith("imx708"):
            return
        wanted = "on" if self._hdr else "off"
        try:
            camera_id = str(info.get("Id", ""))
            if not self._subdevices.set_wide_dynamic_range("imx708", camera_id, bool(self._hdr)):
                return
            reset_camera_manager(picamera2_class)
        except Exception as exc:  # noqa: BLE001 - HDR is a nicety; the recording goes on
            log.warning("cannot set the IMX708 HDR mode (%s): %s", wanted, exc)
            return
        log.info("IMX708 sensor HDR switched %s", wanted)

    def _check_sensor_hdr(self, picam: Any) -> None:
        """Warn when the IMX708's sensor HDR is not what was asked for.

        The control may not have been written (no node, EBUSY), so the opened camera's
        sensor modes are the truth: with HDR on, the largest is 2304x1296.
        """
        self.hdr_active = None
        if not (self.model or "").startswith("imx708"):
            return
        try:
            size = tuple(picam.sensor_resolution)
        except Exception:  # noqa: BLE001 - no sensor mode known: nothing to tell
            return
        self.hdr_active = size == IMX708_HDR_SIZE
        if self.hdr_active != bool(self._hdr):
            log.warning(
                "IMX708 sensor HDR is %s though %s was asked for (largest sensor mode %s); "
                "the HDR control could not be written",
                "on" if self.hdr_active else "off",
                "on" if self._hdr else "off",
                "x".join(str(v) for v in size),
            )

    def _configure(self, picam: Any, transform_class: Any, controls: Any) -> None:
        info = self._info
        frame_us = round(1_000_000 / self._rate[0])
        wanted: dict[str, Any] = {"FrameDurationLimits": (frame_us, frame_us)}
        available = picam.camera_controls
        if self._autofocus and "AfMode" in available:
            wanted["AfMode"] = controls.AfModeEnum.Continuous
        model = (self.model or "").lower()
        if self._hdr and not model.startswith("imx708") and "HdrMode" in available:
            wanted["HdrMode"] = controls.HdrModeEnum.SingleExposure
        self.sensor_mode = choice = self._choose_sensor_mode(picam)
        mode = {} if choice.mode is None else sensor_config(choice.mode, takes_sensor(picam))
        config = picam.create_video_configuration(
            main={"size": (info.width, info.height), "format": "YUV420"},
            lores={"size": (info.preview_width, info.preview_height), "format": "YUV420"},
            transform=transform_class(hflip=int(self._hflip), vflip=int(self._vflip)),
            controls=wanted,
            encode="main",
            display=None,
            buffer_count=self.buffer_count,
            **mode,
        )
        picam.configure(config)

    def _choose_sensor_mode(self, picam: Any) -> ModeChoice:
        """The sensor mode for the video (see :mod:`hw.camera.picamera2_modes`), logged.

        ``Picamera2.sensor_modes`` configures the camera once a mode to list them, so they
        are read once a camera and sensor state (an IMX708's HDR changes them).
        """
        info = self._info
        key = (self._camera_num, self.model, tuple(getattr(picam, "sensor_resolution", ())))
        modes = self._modes_read.get(key)
        if modes is None:
            try:
                modes = list(picam.sensor_modes)
            except Exception as exc:  # noqa: BLE001 - e.g. no CMA for a full-size raw buffer
                choice = ModeChoice(None, f"the sensor modes cannot be read: {exc}")
                log.warning("camera %s: sensor mode: %s", self._name, choice)
                return choice
            self._modes_read[key] = modes
        choice = choose_sensor_mode(modes, (info.width, info.height), info.fps)
        level = logging.INFO if choice.mode is not None else logging.WARNING
        log.log(level, "camera %s (%s): sensor mode %s", self._name, self.model, choice)
        return choice

    def set_motion_sink(self, sink: MotionSink | None, fps: float = 5.0) -> bool:
        """Send the lores stream's luma, as grey frames of :data:`MOTION_WIDTH`, to ``sink``
        at most ``fps`` a second (copied in picamera2's ``pre_callback``, scaled and handed
        over on a worker: a slow sink misses frames, never the video); ``None`` stops it.

        Raises:
            ValueError: ``fps`` is not positive.
        """
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps!r}")
        with self._lock:
            self._motion_period_us = max(1, int(1_000_000 / fps))
            self._next_motion_us = None
            self._motion_sink = sink
        return True

    def _set_pre_callback(self, picam: Any) -> None:
        try:
            from picamera2 import MappedArray
        except ImportError as exc:  # the recording matters more than the overlay
            log.error(
                "camera %s: no overlay and no motion frames (picamera2 has no MappedArray: %s)",
                self._name,
                exc,
            )
            return
        picam.pre_callback = functools.partial(self._pre_callback, MappedArray)

    def _pre_callback(self, mapped_array: Any, request: Any) -> None:
        """picamera2's ``pre_callback``, on every frame before it is encoded: the overlay on
        the main stream, and a motion frame from the lores stream when one is due."""
        if self.overlay is not None:
            self._draw_overlay(mapped_array, request)
        if self._motion_sink is not None:
            self._take_motion_frame(mapped_array, request)

    def _take_motion_frame(self, mapped_array: Any, request: Any) -> None:
        """Copy the lores stream's Y plane for the motion worker, at most at its rate of
        sensor time (the lores stream carries no overlay). Never raises: picamera2's loop
        must not die of it."""
        info = self._info
        try:
            pts_us = int(request.get_metadata()["SensorTimestamp"]) // 1000
            due, period = self._next_motion_us, self._motion_period_us
            if due is not None and pts_us < due:
                return
            late = due is None or pts_us - due >= period
            self._next_motion_us = (pts_us if late else due) + period
            with mapped_array(request, "lores") as m:
                luma = np.array(m.array[: info.preview_height, : info.preview_width])
        except Exception as exc:  # noqa: BLE001 - the video goes on without motion frames
            if not self._motion_failed:
                self._motion_failed = True
                log.error("camera %s: no motion frame from the lores stream: %s", self._name, exc)
            return
        worker = self._motion_worker
        if worker is not None:
            worker.offer((luma, pts_us))

    def _motion_work(self, item: tuple[np.ndarray, int]) -> None:
        sink = self._motion_sink
        if sink is None:
            return
        luma, pts_us = item
        grey = grey_thumbnail(luma)
        self.motion_frames += 1
        sink(grey, pts_us)

    def _draw_overlay(self, mapped_array: Any, request: Any) -> None:
        """The overlay on the main stream's YUV420 buffer, in place (only the text's pixels
        are written). It runs in picamera2's event loop, so it never raises: a failure is
        logged once and the frame goes out without it."""
        try:
            with mapped_array(request, "main") as m:
                self.overlay.draw_i420(m.array, self._wall())
        except Exception as exc:  # noqa: BLE001 - picamera2's loop must not die of it
            if not self._overlay_failed:
                self._overlay_failed = True
                log.error("camera %s: the overlay cannot be drawn: %s", self._name, exc)

    def _start_preview(self) -> None:
        if self.software_encoder:
            from picamera2.encoders import LibavMjpegEncoder as MJPEGEncoder
        else:
            from picamera2.encoders import MJPEGEncoder

        encoder = MJPEGEncoder()
        encoder.frame_skip_count = max(1, round(self._info.fps / self._preview_fps))
        assert self._output is not None
        self._last_preview_us = None
        output = self._output(functools.partial(self._on_jpeg, encoder), encoder)
        self._picam.start_encoder(encoder, output, name="lores")
        self._mjpeg = encoder

    def _close_bounded(self, picam: Any) -> None:
        """Stop and close ``picam``, giving up after ``CLOSE_TIMEOUT_S`` (a dead loop);
        then the camera is stuck (see :class:`CameraStuck`)."""
        closer = run_once(self._close_quietly, f"camera-{self._name}-close", args=(picam,))
        if not closer.join(CLOSE_TIMEOUT_S):
            self._stuck = (
                f"camera {self._camera_num} could not be closed: picamera2 did not stop "
                f"within {CLOSE_TIMEOUT_S:.0f} s"
            )
            log.error("camera %s: %s; the camera is left open", self._name, self._stuck)

    @staticmethod
    def _close_quietly(picam: Any) -> None:
        for step in ("stop_recording", "close"):
            try:
                getattr(picam, step)()
            except Exception:  # noqa: BLE001 - closing goes on regardless
                log.exception("picamera2 %s failed", step)

    def _on_h264(self, frame: Any, keyframe: bool, pts_us: int) -> None:
        """Called by the encoder (its thread, or the camera's) for every encoded buffer.

        Copies the buffer into the delivery queue and returns at once; never blocks.
        """
        if self._stop_event.is_set():
            return
        self._last_frame_mono = time.monotonic()
        self._delivery.put(frame, keyframe, pts_us)

    def _on_jpeg(self, encoder: Any, frame: Any, _keyframe: bool, pts_us: int) -> None:
        """Called by the MJPEG encoder thread for every preview JPEG."""
        if encoder is not self._mjpeg:
            return
        self.preview_frames_encoded += 1
        last = self._last_preview_us
        if last is not None and pts_us - last < self._preview_period_us * 0.9:
            return
        self._last_preview_us = pts_us
        sink = self._preview_sink
        if sink is not None:
            try:
                sink(bytes(frame), pts_us)
            except Exception:  # noqa: BLE001 - a viewer never breaks the camera
                log.exception("preview sink failed")

    def _watch_frames(self) -> None:
        """Report a camera that stopped delivering frames."""
        period_s = min(0.1, self._frame_timeout_s / 4)
        while not self._stop_event.wait(period_s):
            last = self._last_frame_mono
            now = time.monotonic()
            if last is None:
                if now - self._started_mono > max(FIRST_FRAME_TIMEOUT_S, self._frame_timeout_s):
                    self._report_error(CameraError("the camera delivered no frame after start"))
                    return
            elif now - last > self._frame_timeout_s:
                self._report_error(
                    CameraError(f"the camera delivered no frame for {self._frame_timeout_s} s")
                )
                return
