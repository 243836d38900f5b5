"""Picamera2 backend: the Pi camera through libcamera, encoded by the Pi's H.264 encoder.

* Video: the main stream (YUV420, ``width`` x ``height``) goes to picamera2's
  ``H264Encoder`` (Annex B, SPS/PPS repeated before every IDR, an IDR every
  ``keyframe_interval_s``). Its packets reach the appliance through :class:`_PacketOutput`,
  a picamera2 ``Output`` whose ``outputframe(frame, keyframe, timestamp, packet, audio)``
  the encoder calls from its own thread.
* Preview: the lores stream (YUV420, preview size) goes to picamera2's ``MJPEGEncoder``,
  started only while a preview sink is set and stopped when it is cleared.
* Stills: ``capture_array("main")`` copies the next main-stream frame while the encoders
  go on; it is turned into a JPEG here.
* Errors: a camera that cannot be opened raises :class:`CameraError` from :meth:`start`;
  one that stops delivering frames (a loose ribbon cable, a wedged ISP) is reported once
  through ``on_error`` after ``frame_timeout_s``, and the controller retries.

picamera2 and libcamera are imported only in :meth:`Picamera2Camera.start`, so this module
imports anywhere; off a Pi, tests put a stand-in ``picamera2`` package on the path.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import av
import numpy as np

from appliance.errors import CameraError
from appliance.ports import (
    Camera,
    CameraInfo,
    EncodedPacket,
    ErrorSink,
    JpegSink,
    PacketSink,
)
from hw.h264 import STILL_JPEG_QUALITY, frame_to_jpeg

log = logging.getLogger(__name__)

#: Longest wait for the first frame after start (sensor start-up, AE settling).
FIRST_FRAME_TIMEOUT_S = 5.0


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


def _output_classes(output_base: type) -> tuple[type, type]:
    """The two Output subclasses, built on the ``Output`` class of the picamera2 imported."""

    class _PacketOutput(output_base):
        """Hands each H.264 buffer of the encoder to the camera, as picamera2 gives it."""

        def __init__(self, camera: Picamera2Camera, encoder: Any) -> None:
            super().__init__()
            self._camera = camera
            self._encoder = encoder

        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            if audio or frame is None:
                return
            self._camera._on_h264(frame, keyframe, timestamp, self._encoder)

    class _JpegOutput(output_base):
        """Hands each MJPEG frame of the lores encoder to the preview sink."""

        def __init__(self, camera: Picamera2Camera, encoder: Any) -> None:
            super().__init__()
            self._camera = camera
            self._encoder = encoder

        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            if audio or frame is None:
                return
            self._camera._on_jpeg(frame, timestamp, self._encoder)

    return _PacketOutput, _JpegOutput


def _sensor_us(encoder: Any, timestamp_us: int | None) -> int:
    """An encoder's timestamp (relative to its first frame) on the sensor's clock."""
    first = getattr(encoder, "firsttimestamp", None) or 0
    return int(first) + int(timestamp_us or 0)


class Picamera2Camera(Camera):
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

    Attributes:
        keyframe_interval_s: Time between periodic keyframes.
        max_keyframe_delay_s: Three frame intervals: a forced IDR applies to the next frame
            the encoder takes; one or two may be in flight.
        preview_frames_encoded: Preview JPEGs the MJPEG encoder produced.
    """

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
    ) -> None:
        for arg, value in (
            ("width", width),
            ("height", height),
            ("preview_width", preview_width),
            ("preview_height", preview_height),
        ):
            if not isinstance(value, int) or value < 16 or value % 2:
                raise ValueError(f"{arg} must be an even integer >= 16, got {value!r}")
        if not isinstance(fps, int) or not 1 <= fps <= 120:
            raise ValueError(f"fps must be an integer in 1..120, got {fps!r}")
        if rotation not in (0, 180):
            raise ValueError(f"rotation must be 0 or 180, got {rotation!r}")
        if not 0 < preview_fps <= fps:
            raise ValueError(f"preview_fps must be in (0, fps], got {preview_fps!r}")
        if not keyframe_interval_s * fps >= 1:
            raise ValueError(
                f"keyframe_interval_s must be at least one frame, got {keyframe_interval_s}"
            )
        if not frame_timeout_s > 0:
            raise ValueError(f"frame_timeout_s must be > 0, got {frame_timeout_s!r}")
        self._info = CameraInfo(
            name=name,
            width=width,
            height=height,
            fps=fps,
            still_width=width,
            still_height=height,
            preview_width=preview_width,
            preview_height=preview_height,
        )
        self._bitrate = bitrate
        self._gop_frames = max(1, round(keyframe_interval_s * fps))
        self.keyframe_interval_s = self._gop_frames / fps
        self.max_keyframe_delay_s = 3 / fps
        self._preview_fps = preview_fps
        self._hflip = bool(hflip) ^ (rotation == 180)
        self._vflip = bool(vflip) ^ (rotation == 180)
        self._hdr = hdr
        self._autofocus = autofocus
        self._camera_num = camera_num
        self._frame_timeout_s = frame_timeout_s

        self._lock = threading.RLock()
        self._picam: Any = None
        self._h264: Any = None
        self._mjpeg: Any = None
        self._classes: tuple[type, type] | None = None
        self._on_packet: PacketSink | None = None
        self._on_error: ErrorSink | None = None
        self._error_reported = False
        self._failed = False
        self._stop_event = threading.Event()
        self._watch: threading.Thread | None = None
        self._preview_sink: JpegSink | None = None
        self._preview_period_us = int(1_000_000 / preview_fps)
        self._last_preview_us: int | None = None
        self._next_index = 0
        self._last_pts_us: int | None = None
        self._started_mono = 0.0
        self._last_frame_mono: float | None = None
        self._seen_keyframe = False
        self.preview_frames_encoded = 0
        self.model: str | None = None

    # -- Camera interface -------------------------------------------------------------

    @property
    def info(self) -> CameraInfo:
        """The stream description (from the settings; valid before start)."""
        return self._info

    @property
    def is_running(self) -> bool:
        """True between a successful start and stop, until a failure."""
        return self._picam is not None and not self._stop_event.is_set()

    def start(self, on_packet: PacketSink, on_error: ErrorSink | None = None) -> None:
        """Open the camera, start the H.264 encoder and deliver its packets.

        Raises:
            CameraError: picamera2 is missing, no camera is attached, or it cannot be
                configured or started; or the camera is already running.
        """
        with self._lock:
            if self._picam is not None:
                raise CameraError(f"camera {self._info.name!r} is already running")
            try:
                from libcamera import Transform, controls
                from picamera2 import Picamera2
                from picamera2.encoders import H264Encoder
                from picamera2.outputs import Output
            except ImportError as exc:
                raise CameraError(f"picamera2 is not available: {exc}") from exc
            self._classes = _output_classes(Output)
            self._on_packet, self._on_error = on_packet, on_error
            self._error_reported = self._failed = self._seen_keyframe = False
            self._stop_event.clear()
            self._last_frame_mono = None
            self._last_preview_us = None
            self._set_sensor_hdr(Picamera2)
            try:
                picam = Picamera2(self._camera_num)
            except Exception as exc:  # noqa: BLE001 - IndexError when none, RuntimeError, ...
                raise CameraError(f"no camera {self._camera_num}: {exc}") from exc
            try:
                self._configure(picam, Transform, controls)
                encoder = H264Encoder(
                    bitrate=self._bitrate,
                    repeat=True,
                    iperiod=self._gop_frames,
                    framerate=self._info.fps,
                )
                output = self._classes[0](self, encoder)
                self._picam, self._h264 = picam, encoder
                self._started_mono = time.monotonic()
                picam.start_recording(encoder, output, name="main")
                if self._preview_sink is not None:
                    self._start_preview()
            except Exception as exc:  # noqa: BLE001 - whatever libcamera raises
                self._picam = self._h264 = None
                self._close_quietly(picam)
                raise CameraError(f"camera {self._camera_num} failed to start: {exc}") from exc
            self._watch = threading.Thread(
                target=self._watch_frames, name=f"camera-{self._info.name}-watch", daemon=True
            )
            self._watch.start()

    def stop(self) -> None:
        """Stop the encoders and the camera and close it. Idempotent."""
        self._stop_event.set()
        with self._lock:
            picam, self._picam = self._picam, None
            watch, self._watch = self._watch, None
            self._h264 = self._mjpeg = None
        if watch is not None and watch is not threading.current_thread():
            watch.join()
        if picam is not None:
            self._close_quietly(picam)

    def request_keyframe(self) -> None:
        """Ask the H.264 encoder for an IDR as soon as possible."""
        encoder = self._h264
        if encoder is not None:
            encoder.force_key_frame()

    def capture_still(self, timeout_s: float = 5.0) -> bytes:
        """A JPEG of the next main-stream frame; the video goes on.

        Raises:
            CameraError: The camera is not running or gave no frame in time.
        """
        picam = self._picam
        if picam is None or not self.is_running:
            raise CameraError(f"camera {self._info.name!r} is not running")
        try:
            job = picam.capture_array("main", wait=False)
            array = picam.wait(job, timeout=timeout_s)
        except TimeoutError as exc:
            raise CameraError(f"camera gave no still in {timeout_s} s") from exc
        except Exception as exc:  # noqa: BLE001 - a failed still is a camera error
            raise CameraError(f"still failed: {exc}") from exc
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

    def _set_sensor_hdr(self, picamera2_class: Any) -> None:
        """Switch the IMX708's sensor HDR to the wanted setting before the camera opens."""
        try:
            cameras = picamera2_class.global_camera_info()
        except Exception:  # noqa: BLE001 - no camera: Picamera2() will say so
            return
        model = next((c.get("Model", "") for c in cameras if c.get("Num") == self._camera_num), "")
        self.model = model or None
        if not model.startswith("imx708"):
            return
        try:
            from picamera2.devices.imx708 import IMX708

            with IMX708(self._camera_num) as sensor:
                sensor.set_sensor_hdr_mode(bool(self._hdr))
        except Exception as exc:  # noqa: BLE001 - HDR is a nicety
            log.warning("cannot set the IMX708 HDR mode: %s", exc)

    def _configure(self, picam: Any, transform_class: Any, controls: Any) -> None:
        info = self._info
        frame_us = round(1_000_000 / info.fps)
        wanted: dict[str, Any] = {"FrameDurationLimits": (frame_us, frame_us)}
        available = picam.camera_controls
        if self._autofocus and "AfMode" in available:
            wanted["AfMode"] = controls.AfModeEnum.Continuous
        model = (self.model or "").lower()
        if self._hdr and not model.startswith("imx708") and "HdrMode" in available:
            wanted["HdrMode"] = controls.HdrModeEnum.SingleExposure
        config = picam.create_video_configuration(
            main={"size": (info.width, info.height), "format": "YUV420"},
            lores={"size": (info.preview_width, info.preview_height), "format": "YUV420"},
            transform=transform_class(hflip=int(self._hflip), vflip=int(self._vflip)),
            controls=wanted,
            encode="main",
            display=None,
        )
        picam.configure(config)

    def _start_preview(self) -> None:
        from picamera2.encoders import MJPEGEncoder

        encoder = MJPEGEncoder()
        encoder.frame_skip_count = max(1, round(self._info.fps / self._preview_fps))
        assert self._classes is not None
        self._last_preview_us = None
        self._picam.start_encoder(encoder, self._classes[1](self, encoder), name="lores")
        self._mjpeg = encoder

    @staticmethod
    def _close_quietly(picam: Any) -> None:
        for step in ("stop_recording", "close"):
            try:
                getattr(picam, step)()
            except Exception:  # noqa: BLE001 - closing goes on regardless
                log.exception("picamera2 %s failed", step)

    def _on_h264(self, frame: Any, keyframe: bool, timestamp_us: int | None, encoder: Any) -> None:
        """Called by the encoder thread for every encoded buffer."""
        if self._failed or self._stop_event.is_set():
            return
        self._last_frame_mono = time.monotonic()
        keyframe = bool(keyframe)
        if not self._seen_keyframe:
            if not keyframe:
                return  # a segment must start on an IDR with its SPS/PPS
            self._seen_keyframe = True
        pts_us = _sensor_us(encoder, timestamp_us)
        if self._last_pts_us is not None and pts_us <= self._last_pts_us:
            pts_us = self._last_pts_us + 1
        packet = EncodedPacket(bytes(frame), pts_us, keyframe, self._next_index)
        self._last_pts_us = pts_us
        self._next_index += 1
        on_packet = self._on_packet
        try:
            if on_packet is not None:
                on_packet(packet)
        except BaseException as exc:  # noqa: BLE001 - reported once, never raised into picamera2
            self._report_error(exc)

    def _on_jpeg(self, frame: Any, timestamp_us: int | None, encoder: Any) -> None:
        """Called by the MJPEG encoder thread for every preview JPEG."""
        if encoder is not self._mjpeg:
            return
        self.preview_frames_encoded += 1
        pts_us = _sensor_us(encoder, timestamp_us)
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

    def _report_error(self, exc: BaseException) -> None:
        with self._lock:
            first = not self._error_reported
            self._error_reported = True
            self._failed = True
        if not first:
            return
        on_error = self._on_error
        if on_error is None:
            log.error("camera %s failed: %r", self._info.name, exc)
            return
        try:
            on_error(exc)
        except Exception:  # noqa: BLE001
            log.exception("camera %s: on_error raised", self._info.name)
