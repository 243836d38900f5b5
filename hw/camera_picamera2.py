"""Picamera2 backend: the Pi camera through libcamera, encoded by the Pi's H.264 encoder.

* Video: the main stream (YUV420, ``width`` x ``height``) goes to picamera2's
  ``H264Encoder`` (Annex B, SPS/PPS repeated before every IDR, an IDR every
  ``keyframe_interval_s``), or with ``software_encoder`` to its ``LibavH264Encoder``. The
  encoder calls ``outputframe(frame, keyframe, timestamp[, packet, audio])`` of a picamera2
  ``Output`` (:class:`_PacketOutput`) from its own thread, or (``LibavH264Encoder``) from
  the camera thread while holding ``Picamera2.lock``. That call only copies the buffer into
  a bounded queue and returns; a delivery thread hands the packets to ``on_packet``, so a
  slow disk never stalls the camera. Past the bound, buffers are dropped and counted
  (``packets_dropped``) and delivery resumes at the next IDR.
* Keyframes: a packet is a keyframe when it holds an IDR slice (NAL type 5), whatever the
  encoder's flag says; its SPS/PPS are in-line (a buffer of SPS/PPS alone is merged into the
  IDR that follows; an IDR without them gets the last ones seen).
* Releases: ``H264Encoder.force_key_frame`` (picamera2 0.3.32) and ``Picamera2.wait(job,
  timeout=)`` (0.3.17) are feature-tested; without them a requested keyframe is the next
  periodic IDR and a still waits through a signal function. :func:`picamera2_features`
  reports what the installed picamera2 offers (for ``dashcam doctor``).
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

import inspect
import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
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
from hw.h264 import (
    NAL_IDR,
    NAL_PPS,
    NAL_SLICE,
    NAL_SPS,
    STILL_JPEG_QUALITY,
    frame_to_jpeg,
    nal_types,
    parameter_sets,
)

log = logging.getLogger(__name__)

#: Longest wait for the first frame after start (sensor start-up, AE settling).
FIRST_FRAME_TIMEOUT_S = 5.0

#: Encoded buffers waiting for ``on_packet``, in seconds of video, before they are dropped.
PACKET_QUEUE_S = 2.0

#: Dropped packets are logged at most once in this period.
DROP_LOG_PERIOD_S = 10.0

#: Longest wait in :meth:`Picamera2Camera.stop` for the delivery thread (a stuck sink).
DELIVERY_JOIN_TIMEOUT_S = 5.0

#: Longest wait in :meth:`Picamera2Camera.stop` for picamera2 to stop and close: its
#: ``stop`` waits for its event loop, which an exception on the camera thread ends.
CLOSE_TIMEOUT_S = 5.0

#: Frame buffers at 720p and above: picamera2's default of 6 sets of raw + main + lores
#: buffers, plus 16 x 512 KB for each V4L2 encoder, nearly fill the ~64 MB of CMA of a
#: Zero 2 W at 1080p (picamera2 issue #972). Below 720p picamera2's 6 are kept.
BUFFER_COUNT_HD = 4
BUFFER_COUNT_SD = 6

#: The IMX708's largest sensor mode without and with its sensor HDR: in HDR mode the
#: sensor offers one mode, 2304x1296, so ``Picamera2.sensor_resolution`` shows the state.
IMX708_FULL_SIZE = (4608, 2592)
IMX708_HDR_SIZE = (2304, 1296)


@dataclass(frozen=True)
class Picamera2Features:
    """What the installed picamera2 offers the backend (for ``dashcam doctor``).

    Attributes:
        available: picamera2 (and libcamera) import.
        version: The installed release (``"0.3.31"``); None when not installed from a
            package whose metadata names it.
        encoder: The class name of the H.264 encoder used (``H264Encoder``, the V4L2
            one; ``LibavH264Encoder`` on a Pi 5 or with ``software_encoder``).
        force_key_frame: That encoder has ``force_key_frame`` (picamera2 0.3.32 on).
        pyav_keyframes: PyAV takes ``frame.pict_type = "I"``, which picamera2's
            ``LibavH264Encoder`` sets for a forced keyframe (PyAV 14 and later raise
            TypeError there, on the camera thread, which stops picamera2's event loop).
        keyframe_on_request: A requested keyframe comes within ``max_keyframe_delay_s``:
            ``force_key_frame`` exists and, for ``LibavH264Encoder``, PyAV takes it. When
            False the backend never calls it, and a new segment starts at the next
            periodic IDR (at most ``keyframe_interval_s`` later).
        wait_timeout: ``Picamera2.wait`` takes ``timeout`` (0.3.17 on); without it the
            backend bounds the wait for a still itself.
        error: Why picamera2 is not available.
    """

    available: bool
    version: str | None = None
    encoder: str | None = None
    force_key_frame: bool = False
    pyav_keyframes: bool = False
    keyframe_on_request: bool = False
    wait_timeout: bool = False
    error: str | None = None


def _installed_version(module: Any) -> str | None:
    """The version of the distribution that installed ``module`` (None if unknown)."""
    from importlib import metadata
    from pathlib import Path

    try:
        dist = metadata.distribution("picamera2")
        origin = Path(str(dist.locate_file("picamera2/__init__.py"))).resolve()
    except Exception:  # noqa: BLE001 - an apt or source install may carry no metadata
        return None
    if origin != Path(str(getattr(module, "__file__", ""))).resolve():
        return None  # the imported picamera2 is not the one the metadata describes
    return dist.version


def pyav_takes_picture_type_letters() -> bool:
    """PyAV accepts ``VideoFrame.pict_type = "I"`` (as ``LibavH264Encoder`` sets it)."""
    frame = av.VideoFrame(16, 16, "yuv420p")
    try:
        frame.pict_type = "I"
    except (TypeError, ValueError, KeyError):
        return False
    return True


def _features_of(picamera2_module: Any, h264_class: Any, picamera2_class: Any) -> Picamera2Features:
    try:
        wait_timeout = "timeout" in inspect.signature(picamera2_class.wait).parameters
    except (TypeError, ValueError):
        wait_timeout = False
    libav = getattr(sys.modules.get("picamera2.encoders"), "LibavH264Encoder", None)
    uses_pyav = isinstance(libav, type) and issubclass(h264_class, libav)
    force = callable(getattr(h264_class, "force_key_frame", None))
    pyav_ok = pyav_takes_picture_type_letters()
    return Picamera2Features(
        available=True,
        version=_installed_version(picamera2_module),
        encoder=h264_class.__name__,
        force_key_frame=force,
        pyav_keyframes=pyav_ok,
        keyframe_on_request=force and (pyav_ok or not uses_pyav),
        wait_timeout=wait_timeout,
    )


def picamera2_features() -> Picamera2Features:
    """What the installed picamera2 offers (feature tests, never a version compare).

    Returns:
        The features of picamera2's platform ``H264Encoder``; ``available=False`` with
        ``error`` when picamera2 does not import.
    """
    try:
        import picamera2
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder
    except Exception as exc:  # noqa: BLE001 - ImportError, or libcamera failing to load
        return Picamera2Features(available=False, error=f"{type(exc).__name__}: {exc}")
    return _features_of(picamera2, H264Encoder, Picamera2)


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
            # Runs on the encoder's or the camera's thread: copy, queue, return.
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
        software_encoder: Encode with picamera2's ``LibavH264Encoder`` and
            ``LibavMjpegEncoder`` (libx264 and libavcodec on the CPU) instead of the
            platform's ``H264Encoder`` and ``MJPEGEncoder`` (which, on a Pi 5, are those).
        buffer_count: Frame buffer sets; None: 4 at 720p and above, else 6.
        allocator: The picamera2 allocator of frame buffers, given to ``Picamera2``; None:
            picamera2's own (``DmaAllocator``, the DMA heap of the Pi).
        packet_queue: Encoded buffers that may wait for ``on_packet``; None: 2 s of video.

    Attributes:
        keyframe_interval_s: Time between periodic keyframes.
        keyframe_on_request: After start: the encoder can force an IDR
            (``force_key_frame``); False when a request waits for the next periodic IDR;
            None before the first start.
        hdr_active: After start on an IMX708: its sensor HDR is on; else None.
        software_encoder: picamera2's libav encoders are used (see Args).
        buffer_count: Frame buffer sets asked of picamera2.
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
        software_encoder: bool = False,
        buffer_count: int | None = None,
        packet_queue: int | None = None,
        allocator: Any = None,
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
        if buffer_count is None:
            buffer_count = BUFFER_COUNT_HD if width * height >= 1280 * 720 else BUFFER_COUNT_SD
        if not isinstance(buffer_count, int) or not 2 <= buffer_count <= 16:
            raise ValueError(f"buffer_count must be an integer in 2..16, got {buffer_count!r}")
        if packet_queue is None:
            packet_queue = max(8, round(PACKET_QUEUE_S * fps))
        if not isinstance(packet_queue, int) or packet_queue < 1:
            raise ValueError(f"packet_queue must be a positive integer, got {packet_queue!r}")
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
        self.keyframe_on_request: bool | None = None
        self.hdr_active: bool | None = None
        self.software_encoder = bool(software_encoder)
        self.buffer_count = buffer_count
        self._packet_queue_size = packet_queue
        self._allocator = allocator
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
        self._overflowed = 0  # counted on the encoder's thread
        self._skipped = 0  # counted on the delivery thread
        self._drop_logged_mono = -DROP_LOG_PERIOD_S
        self.model: str | None = None
        self._wait_timeout = True
        self._keyframe_warning_given = False
        self._queue: queue.Queue | None = None
        self._deliver: threading.Thread | None = None
        self._drops_unreported = 0
        self._headers = b""  # the SPS/PPS of the latest IDR
        self._pending = b""  # a buffer of parameter sets waiting for its IDR
        self._resync = False  # packets were dropped: skipping to the next IDR

    @property
    def packets_dropped(self) -> int:
        """Encoded buffers dropped: the queue to ``on_packet`` was full, or they came after
        such a drop and before the next IDR."""
        return self._overflowed + self._skipped

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
                import picamera2
                from libcamera import Transform, controls
                from picamera2 import Picamera2
                from picamera2.encoders import H264Encoder
                from picamera2.outputs import Output

                if self.software_encoder:
                    from picamera2.encoders import LibavH264Encoder as H264Encoder
            except ImportError as exc:
                raise CameraError(f"picamera2 is not available: {exc}") from exc
            features = _features_of(picamera2, H264Encoder, Picamera2)
            self._note_features(features)
            self._classes = _output_classes(Output)
            self._on_packet, self._on_error = on_packet, on_error
            self._error_reported = self._failed = self._seen_keyframe = False
            self._headers = self._pending = b""
            self._drops_unreported = 0
            self._resync = False
            self._stop_event.clear()
            self._last_frame_mono = None
            self._last_preview_us = None
            self._set_sensor_hdr(Picamera2)
            try:
                extra = {} if self._allocator is None else {"allocator": self._allocator}
                picam = Picamera2(self._camera_num, **extra)
            except Exception as exc:  # noqa: BLE001 - IndexError when none, RuntimeError, ...
                raise CameraError(f"no camera {self._camera_num}: {exc}") from exc
            self._check_sensor_hdr(picam)
            packets: queue.Queue = queue.Queue(maxsize=self._packet_queue_size)
            self._queue = packets
            self._deliver = threading.Thread(
                target=self._deliver_packets,
                args=(packets,),
                name=f"camera-{self._info.name}-deliver",
                daemon=True,
            )
            self._deliver.start()
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
                self._stop_event.set()
                self._close_quietly(picam)
                self._join_delivery()
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
            self._close_bounded(picam)
        self._join_delivery()

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
            raise CameraError(f"camera {self._info.name!r} is not running")
        try:
            if self._wait_timeout:
                job = picam.capture_array("main", wait=False)
                array = picam.wait(job, timeout=timeout_s)
            else:  # picamera2 before 0.3.17: wait(job) cannot time out; bound it here
                done = threading.Event()
                job = picam.capture_array("main", signal_function=lambda _job: done.set())
                if not done.wait(timeout_s):
                    raise TimeoutError(f"no frame in {timeout_s} s")
                array = picam.wait(job)
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

    def _note_features(self, features: Picamera2Features) -> None:
        """Take the installed picamera2's features; warn once if keyframes must wait."""
        self.keyframe_on_request = features.keyframe_on_request
        self._wait_timeout = features.wait_timeout
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

    def _check_sensor_hdr(self, picam: Any) -> None:
        """Warn when the IMX708's sensor HDR is not what was asked for.

        ``IMX708.set_sensor_hdr_mode`` only prints a failed ioctl, so the opened camera's
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
            buffer_count=self.buffer_count,
        )
        picam.configure(config)

    def _start_preview(self) -> None:
        if self.software_encoder:
            from picamera2.encoders import LibavMjpegEncoder as MJPEGEncoder
        else:
            from picamera2.encoders import MJPEGEncoder

        encoder = MJPEGEncoder()
        encoder.frame_skip_count = max(1, round(self._info.fps / self._preview_fps))
        assert self._classes is not None
        self._last_preview_us = None
        self._picam.start_encoder(encoder, self._classes[1](self, encoder), name="lores")
        self._mjpeg = encoder

    def _close_bounded(self, picam: Any) -> None:
        """Stop and close ``picam``, giving up after ``CLOSE_TIMEOUT_S`` (a dead loop)."""
        closer = threading.Thread(
            target=self._close_quietly,
            args=(picam,),
            name=f"camera-{self._info.name}-close",
            daemon=True,
        )
        closer.start()
        closer.join(CLOSE_TIMEOUT_S)
        if closer.is_alive():
            log.error(
                "camera %s: picamera2 did not stop within %.0f s (its event loop is gone); "
                "the camera is left open",
                self._info.name,
                CLOSE_TIMEOUT_S,
            )

    @staticmethod
    def _close_quietly(picam: Any) -> None:
        for step in ("stop_recording", "close"):
            try:
                getattr(picam, step)()
            except Exception:  # noqa: BLE001 - closing goes on regardless
                log.exception("picamera2 %s failed", step)

    def _on_h264(self, frame: Any, keyframe: bool, timestamp_us: int | None, encoder: Any) -> None:
        """Called by the encoder (its thread, or the camera's) for every encoded buffer.

        Copies the buffer into the delivery queue and returns at once; never blocks.
        """
        if self._failed or self._stop_event.is_set():
            return
        self._last_frame_mono = time.monotonic()
        packets = self._queue
        if packets is None:
            return
        item = (bytes(frame), bool(keyframe), _sensor_us(encoder, timestamp_us))
        try:
            packets.put_nowait((*item, self._drops_unreported))
        except queue.Full:
            self._drops_unreported += 1
            self._overflowed += 1
            if self._drops_unreported == 1:
                self.request_keyframe()  # delivery resumes at an IDR: ask for one now
            return
        self._drops_unreported = 0

    def _deliver_packets(self, packets: queue.Queue) -> None:
        """The delivery thread: packets from the queue to ``on_packet``, in order."""
        while not self._stop_event.is_set():
            try:
                data, flag, pts_us, dropped_before = packets.get(timeout=0.1)
            except queue.Empty:
                continue
            if self._stop_event.is_set() or self._failed:
                return
            if dropped_before:
                now = time.monotonic()
                if now - self._drop_logged_mono >= DROP_LOG_PERIOD_S:
                    self._drop_logged_mono = now
                    log.warning(
                        "camera %s: on_packet too slow, %d packets dropped so far",
                        self._info.name,
                        self.packets_dropped,
                    )
                self._seen_keyframe = False  # the stream broke: restart at an IDR
                self._resync = True
                self._pending = b""
            packet = self._packet(data, flag, pts_us)
            if packet is None:
                continue
            on_packet = self._on_packet
            try:
                if on_packet is not None:
                    on_packet(packet)
            except BaseException as exc:  # noqa: BLE001 - reported once, the thread ends
                self._report_error(exc)
                return

    def _packet(self, data: bytes, flag: bool, pts_us: int) -> EncodedPacket | None:
        """One encoded buffer as a packet, by the IDR rule; None when it is not one.

        A keyframe is a buffer with an IDR slice, its SPS/PPS in-line: a buffer of
        parameter sets alone (the V4L2 encoder emits one at low bit rates, and picamera2
        before 0.3.27 flags it as a keyframe) is kept and put before the next buffer; an
        IDR without SPS/PPS (picamera2 0.3.27 on drops that buffer) gets the last seen.
        """
        types = nal_types(data)
        if NAL_IDR not in types and NAL_SLICE not in types:
            if NAL_SPS in types or NAL_PPS in types:  # SPS and PPS may come one by one
                self._pending = self._pending + data if len(self._pending) < 1024 else data
            return None  # no picture: nothing to deliver yet
        if self._pending:
            data, self._pending = self._pending + data, b""
            types = nal_types(data)
        keyframe = NAL_IDR in types
        if keyframe:
            if NAL_SPS in types and NAL_PPS in types:
                self._headers = parameter_sets(data)
            elif self._headers:
                data = self._headers + data
            else:
                keyframe = False  # no SPS/PPS known yet: it cannot start a segment
        if flag and not keyframe:
            log.debug("encoder flagged a buffer without an IDR as a keyframe")
        if not self._seen_keyframe:
            if not keyframe:
                self._skipped += int(self._resync)
                return None  # a segment must start on an IDR with its SPS/PPS
            self._seen_keyframe = True
            self._resync = False
        if self._last_pts_us is not None and pts_us <= self._last_pts_us:
            pts_us = self._last_pts_us + 1
        packet = EncodedPacket(data, pts_us, keyframe, self._next_index)
        self._last_pts_us = pts_us
        self._next_index += 1
        return packet

    def _join_delivery(self) -> None:
        deliver, self._deliver = self._deliver, None
        self._queue = None
        if deliver is None or deliver is threading.current_thread():
            return
        deliver.join(DELIVERY_JOIN_TIMEOUT_S)
        if deliver.is_alive():
            log.error(
                "camera %s: on_packet did not return within %.0f s of stop",
                self._info.name,
                DELIVERY_JOIN_TIMEOUT_S,
            )

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
