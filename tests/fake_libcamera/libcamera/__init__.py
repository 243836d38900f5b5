"""Fake ``libcamera`` Python bindings: the names picamera2 uses, over a simulated sensor.

Frame buffers are ``memfd`` shared memory, mapped by picamera2 as it maps DMA buffers.
Requests queued while the camera runs are completed, one a frame interval, on a thread
of the camera manager, which signals them through its ``event_fd`` as libcamera does.

The sensor modes (``tests.sensor_modes``) are read when a camera manager starts;
``CameraManager.singleton()`` gives the manager that is alive, else starts one, as the
bindings do (a weak reference). The configuration's ``sensor_config`` selects the mode
(the raw stream is adjusted to it); without one, the mode nearest the raw stream's size.
"""

from __future__ import annotations

import enum
import mmap
import os
import threading
import time
import types
import weakref
from typing import Any

import numpy as np

from tests.fake_libcamera import active_sensor
from tests.sensor_modes import Mode, largest, modes_of

# -- geometry, transforms, colour spaces ---------------------------------------------------


class Size:
    def __init__(self, width: int = 0, height: int = 0) -> None:
        self.width, self.height = int(width), int(height)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class Rectangle:
    def __init__(self, x: int = 0, y: int = 0, width: int = 0, height: int = 0) -> None:
        self.x, self.y, self.width, self.height = int(x), int(y), int(width), int(height)


class Transform:
    def __init__(self, other=None, hflip=0, vflip=0, transpose=0, rotation=0) -> None:
        if isinstance(other, Transform):
            hflip, vflip, transpose = other.hflip, other.vflip, other.transpose
        if rotation not in (0, 180):
            raise ValueError("the fake supports rotation 0 and 180 only")
        flip = rotation == 180
        self.hflip = bool(hflip) ^ flip
        self.vflip = bool(vflip) ^ flip
        self.transpose = bool(transpose)

    def __str__(self) -> str:
        return f"<libcamera.Transform '{'h' if self.hflip else ''}{'v' if self.vflip else ''}'>"


class Orientation(enum.Enum):
    Rotate0 = 1
    Rotate0Mirror = 2
    Rotate180 = 3
    Rotate180Mirror = 4
    Rotate90Mirror = 5
    Rotate270 = 6
    Rotate90 = 7
    Rotate270Mirror = 8


class ColorSpace:
    class Primaries(enum.Enum):
        Raw = 0
        Smpte170m = 1
        Rec709 = 2

    class TransferFunction(enum.Enum):
        Linear = 0
        Srgb = 1
        Rec709 = 2

    class YcbcrEncoding(enum.Enum):
        Null = 0
        Rec601 = 1
        Rec709 = 2

    class Range(enum.Enum):
        Full = 0
        Limited = 1

    def __init__(self, other=None, primaries=None, transfer=None, ycbcr=None, rng=None):
        if isinstance(other, ColorSpace):
            primaries, transfer = other.primaries, other.transferFunction
            ycbcr, rng = other.ycbcrEncoding, other.range
        self.primaries, self.transferFunction = primaries, transfer
        self.ycbcrEncoding, self.range = ycbcr, rng

    @staticmethod
    def Sycc():
        c = ColorSpace
        return c(
            None, c.Primaries.Rec709, c.TransferFunction.Srgb, c.YcbcrEncoding.Rec601, c.Range.Full
        )

    @staticmethod
    def Smpte170m():
        c = ColorSpace
        return c(
            None,
            c.Primaries.Smpte170m,
            c.TransferFunction.Rec709,
            c.YcbcrEncoding.Rec601,
            c.Range.Limited,
        )

    @staticmethod
    def Rec709():
        c = ColorSpace
        return c(
            None,
            c.Primaries.Rec709,
            c.TransferFunction.Rec709,
            c.YcbcrEncoding.Rec709,
            c.Range.Limited,
        )

    @staticmethod
    def Raw():
        c = ColorSpace
        return c(
            None, c.Primaries.Raw, c.TransferFunction.Linear, c.YcbcrEncoding.Null, c.Range.Full
        )

    def __str__(self) -> str:
        return f"<ColorSpace {self.primaries.name}>"


class PixelFormat:
    def __init__(self, name: str) -> None:
        self.name = str(name)

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return str(other) == self.name

    def __hash__(self) -> int:
        return hash(self.name)


_libcamera = types.SimpleNamespace(Transform=Transform, ColorSpace=ColorSpace)

# -- controls and properties --------------------------------------------------------------


class ControlType(enum.Enum):
    Bool = 1
    Integer32 = 3
    Integer64 = 4
    Float = 5
    Rectangle = 7
    Size = 8


class ControlId:
    def __init__(self, name: str, type_: ControlType = ControlType.Integer32) -> None:
        self.name, self.type, self.id = name, type_, id(self)

    def __repr__(self) -> str:
        return f"libcamera.ControlId({self.name})"


class ControlInfo:
    def __init__(self, min_, max_, default) -> None:
        self.min, self.max, self.default = min_, max_, default


class _AfModeEnum(enum.IntEnum):
    Manual = 0
    Auto = 1
    Continuous = 2


class _HdrModeEnum(enum.IntEnum):
    Off = 0
    MultiExposureUnmerged = 1
    MultiExposure = 2
    SingleExposure = 3
    Night = 4


class _NoiseReductionModeEnum(enum.IntEnum):
    Off = 0
    Fast = 1
    HighQuality = 2
    Minimal = 3
    ZSL = 4


_I64 = ControlType.Integer64
controls = types.SimpleNamespace(
    AeEnable=ControlId("AeEnable", ControlType.Bool),
    ExposureTime=ControlId("ExposureTime"),
    ExposureTimeMode=ControlId("ExposureTimeMode"),
    AnalogueGain=ControlId("AnalogueGain", ControlType.Float),
    AnalogueGainMode=ControlId("AnalogueGainMode"),
    DigitalGain=ControlId("DigitalGain", ControlType.Float),
    FrameDurationLimits=ControlId("FrameDurationLimits", _I64),
    FrameDuration=ControlId("FrameDuration", _I64),
    SensorTimestamp=ControlId("SensorTimestamp", _I64),
    ScalerCrop=ControlId("ScalerCrop", ControlType.Rectangle),
    AfMode=ControlId("AfMode"),
    AfModeEnum=_AfModeEnum,
    HdrModeEnum=_HdrModeEnum,
    draft=types.SimpleNamespace(
        NoiseReductionMode=ControlId("NoiseReductionMode"),
        NoiseReductionModeEnum=_NoiseReductionModeEnum,
    ),
)


class _ColorFilterArrangementEnum(enum.IntEnum):
    RGGB = 0
    GRBG = 1
    GBRG = 2
    BGGR = 3
    RGB = 4
    MONO = 5


properties = types.SimpleNamespace(
    Model=ControlId("Model"),
    Location=ControlId("Location"),
    Rotation=ControlId("Rotation"),
    ColorFilterArrangement=ControlId("ColorFilterArrangement"),
    PixelArraySize=ControlId("PixelArraySize", ControlType.Size),
    draft=types.SimpleNamespace(ColorFilterArrangementEnum=_ColorFilterArrangementEnum),
)

# -- configuration ------------------------------------------------------------------------


class StreamRole(enum.Enum):
    Raw = 0
    StillCapture = 1
    VideoRecording = 2
    Viewfinder = 3


def _frame_us(mode: Mode) -> int:
    """The mode's shortest frame duration (picamera2 lists ``round(1e6 / it, 2)`` fps)."""
    return round(1_000_000 / mode.fps)


def _field(modes: list[Mode]) -> tuple[int, int]:
    """The pixel array's size: what all the modes' crops span."""
    return (
        max(m.crop_limits[0] + m.crop_limits[2] for m in modes),
        max(m.crop_limits[1] + m.crop_limits[3] for m in modes),
    )


def _nearest(modes: list[Mode], size: tuple[int, int], bit_depth: int) -> Mode:
    """The mode libcamera takes for a raw stream of ``size``: a smaller mode costs more
    than a larger one, another aspect ratio most, another bit depth too."""

    def distance(wanted: float, actual: float) -> float:
        return (actual - wanted) / 4 if actual > wanted else (wanted - actual) * 2

    def score(m: Mode) -> float:
        total = distance(size[0], m.size[0]) + distance(size[1], m.size[1])
        total += 1500 * distance(size[0] / size[1], m.size[0] / m.size[1])
        return total + 500 * abs(bit_depth - m.bit_depth)

    return min(modes, key=score)


class StreamFormats:
    def __init__(self, formats: dict[str, list[tuple[int, int]]]) -> None:
        self._formats = formats

    @property
    def pixel_formats(self) -> list[PixelFormat]:
        return [PixelFormat(name) for name in self._formats]

    def sizes(self, pixel_format) -> list[Size]:
        return [Size(*s) for s in self._formats[str(pixel_format)]]


class Stream:
    """One stream of a configured camera; ``configuration`` is its StreamConfiguration."""

    def __init__(self, configuration: StreamConfiguration) -> None:
        self.configuration = configuration


class StreamConfiguration:
    def __init__(self, role: StreamRole, modes: list[Mode]) -> None:
        self.role = role
        native = largest(modes)
        self.size = Size(*(native.size if role is StreamRole.Raw else (1920, 1080)))
        self.pixel_format = PixelFormat(native.format if role is StreamRole.Raw else "YUV420")
        self.buffer_count = 4
        self.stride = 0
        self.frame_size = 0
        self.color_space = ColorSpace.Raw() if role is StreamRole.Raw else ColorSpace.Sycc()
        self.stream = Stream(self)
        if role is StreamRole.Raw:
            sizes: dict[str, list[tuple[int, int]]] = {}
            for mode in modes:
                sizes.setdefault(mode.format, []).append(mode.size)
            self.formats = StreamFormats(sizes)
        else:
            self.formats = StreamFormats({"YUV420": [(1920, 1080)]})

    def _validate(self) -> None:
        w, h = self.size.width, self.size.height
        fmt = str(self.pixel_format)
        if fmt in ("YUV420", "YVU420"):
            self.stride = (w + 63) // 64 * 64
            self.frame_size = self.stride * h * 3 // 2
        elif fmt in ("XBGR8888", "XRGB8888"):
            self.stride = w * 4
            self.frame_size = self.stride * h
        elif fmt in ("BGR888", "RGB888"):
            self.stride = (w * 3 + 31) // 32 * 32
            self.frame_size = self.stride * h
        elif fmt.startswith("SRGGB"):
            bits = int(fmt[5:].split("_")[0])
            packed = fmt.endswith("_CSI2P")
            self.stride = ((w * bits // 8 if packed else w * (bits + 7) // 8) + 31) // 32 * 32
            self.frame_size = self.stride * h
        else:
            raise ValueError(f"the fake sensor cannot give {fmt}")


class SensorConfiguration:
    def __init__(self) -> None:
        self.bit_depth = 0
        self.output_size = Size()


class CameraConfiguration:
    class Status(enum.Enum):
        Valid = 0
        Adjusted = 1
        Invalid = 2

    def __init__(self, roles, modes: list[Mode]) -> None:
        self._streams = [StreamConfiguration(role, modes) for role in roles]
        self._modes = modes
        self.orientation = Orientation.Rotate0
        self.sensor_config = None
        self.mode: Mode | None = None

    def at(self, index: int) -> StreamConfiguration:
        return self._streams[index]

    def __iter__(self):
        return iter(self._streams)

    def __len__(self) -> int:
        return len(self._streams)

    @property
    def size(self) -> int:
        return len(self._streams)

    def validate(self):
        status = CameraConfiguration.Status.Valid
        raw = next((s for s in self._streams if str(s.pixel_format).startswith("SRGGB")), None)
        wanted = self.sensor_config
        if wanted is not None:
            size = (wanted.output_size.width, wanted.output_size.height)
            found = [m for m in self._modes if m.size == size and m.bit_depth == wanted.bit_depth]
            if not found:
                return CameraConfiguration.Status.Invalid
            self.mode = found[0]
            if raw is not None and (raw.size.width, raw.size.height) != size:
                raw.size = Size(*size)
                status = CameraConfiguration.Status.Adjusted
            if raw is not None and str(raw.pixel_format) != self.mode.format:
                raw.pixel_format = PixelFormat(self.mode.format)
                status = CameraConfiguration.Status.Adjusted
        else:
            stream = raw or self._streams[0]
            size = (stream.size.width, stream.size.height)
            bits = int(str(raw.pixel_format)[5:].split("_")[0]) if raw is not None else 10
            self.mode = _nearest(self._modes, size, bits)
        try:
            for stream in self._streams:
                stream._validate()
        except ValueError:
            return CameraConfiguration.Status.Invalid
        return status


# -- buffers and requests ---------------------------------------------------------------


class FrameMetadata:
    class Status(enum.Enum):
        Success = 0
        Error = 1
        Cancelled = 2

    def __init__(self, length: int) -> None:
        self.status = FrameMetadata.Status.Success
        self.sequence = 0
        self.timestamp = 0
        self.planes = [types.SimpleNamespace(bytes_used=length)]


class FrameBuffer:
    class Plane:
        def __init__(self) -> None:
            self.fd = -1
            self.offset = 0
            self.length = 0

    def __init__(self, planes) -> None:
        self.planes = list(planes)
        self.metadata = FrameMetadata(sum(p.length for p in self.planes))


class FrameBufferAllocator:
    """Buffers in ``memfd`` shared memory, as libcamera's allocator gives dmabufs."""

    def __init__(self, camera) -> None:
        self._buffers: dict[Stream, list[FrameBuffer]] = {}

    def allocate(self, stream: Stream) -> int:
        config = stream.configuration
        buffers = []
        for i in range(config.buffer_count):
            fd = os.memfd_create(f"fake-libcamera-{i}")
            os.ftruncate(fd, config.frame_size)
            plane = FrameBuffer.Plane()
            plane.fd, plane.length = fd, config.frame_size
            buffers.append(FrameBuffer([plane]))
        self._buffers[stream] = buffers
        return len(buffers)

    def buffers(self, stream: Stream) -> list[FrameBuffer]:
        return self._buffers[stream]


class Request:
    class Status(enum.Enum):
        Pending = 0
        Complete = 1
        Cancelled = 2

    def __init__(self, cookie: int) -> None:
        self.cookie = cookie
        self.buffers: dict[Stream, FrameBuffer] = {}
        self.metadata: dict[ControlId, Any] = {}
        self.status = Request.Status.Pending
        self.controls: dict[ControlId, Any] = {}

    def add_buffer(self, stream: Stream, buffer: FrameBuffer) -> None:
        self.buffers[stream] = buffer

    def set_control(self, control: ControlId, value: Any) -> None:
        self.controls[control] = value

    def reuse(self) -> None:
        self.status = Request.Status.Pending
        self.metadata = {}
        self.controls = {}


# -- the camera and its manager -----------------------------------------------------------


def _picture(sensor, stream_config: StreamConfiguration, index: int) -> bytes | None:
    """The bytes of frame ``index`` as ``stream_config`` lays it out (YUV420 with stride)."""
    fmt = str(stream_config.pixel_format)
    if fmt != "YUV420":
        return None  # raw and RGB streams keep whatever the buffer holds
    source = sensor.pictures[index % len(sensor.pictures)]
    w, h = stream_config.size.width, stream_config.size.height
    src_h, src_w = source.shape[0] * 2 // 3, source.shape[1]
    if (w, h) != (src_w, src_h):
        import av

        frame = av.VideoFrame.from_ndarray(source, format="yuv420p")
        source = frame.reformat(width=w, height=h).to_ndarray()
    flat = source.reshape(-1)
    stride = stream_config.stride
    y, u, v = flat[: w * h], flat[w * h : w * h * 5 // 4], flat[w * h * 5 // 4 :]
    planes = [
        np.pad(y.reshape(h, w), ((0, 0), (0, stride - w))),
        np.pad(u.reshape(h // 2, w // 2), ((0, 0), (0, (stride - w) // 2))),
        np.pad(v.reshape(h // 2, w // 2), ((0, 0), (0, (stride - w) // 2))),
    ]
    return b"".join(p.tobytes() for p in planes)


class Camera:
    """The sensor behind libcamera's pipeline handler, with the modes it had when its
    camera manager started."""

    def __init__(self, manager: CameraManager, sensor, modes: list[Mode]) -> None:
        self._manager = weakref.ref(manager)  # as the bindings: no cycle keeps it alive
        self._sensor = sensor
        self._modes = modes
        self._mode = largest(modes)
        self.id = sensor.camera_id
        self._acquired = False
        self._running = False
        self._queue: list[Request] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._frame_us = max(sensor.frame_duration_us, _frame_us(self._mode))
        self._config: CameraConfiguration | None = None
        self._streaming = False

    @property
    def properties(self) -> dict[ControlId, Any]:
        return {
            properties.Model: self._sensor.model,
            properties.Location: 2,
            properties.Rotation: 180,
            properties.ColorFilterArrangement: 0,
            properties.PixelArraySize: Size(*_field(self._modes)),
        }

    @property
    def controls(self) -> dict[ControlId, ControlInfo]:
        """The controls of the mode configured last (the native mode before)."""
        crop = Rectangle(*self._mode.crop_limits)
        shortest_us = _frame_us(self._mode)
        found = {
            controls.ExposureTime: ControlInfo(1, 1_000_000, 20_000),
            controls.AnalogueGain: ControlInfo(1.0, 16.0, 1.0),
            controls.AeEnable: ControlInfo(False, True, True),
            controls.FrameDurationLimits: ControlInfo(
                shortest_us, 1_000_000, max(shortest_us, 33_333)
            ),
            controls.ScalerCrop: ControlInfo(Rectangle(0, 0, 64, 64), crop, crop),
            controls.draft.NoiseReductionMode: ControlInfo(0, 4, 0),
        }
        if self._sensor.model.startswith("imx708"):
            found[controls.AfMode] = ControlInfo(0, 2, 0)
        return found

    def acquire(self) -> None:
        if self._acquired:
            raise RuntimeError("Failed to acquire camera")
        self._acquired = True

    def release(self) -> None:
        self._acquired = False

    def generate_configuration(self, roles) -> CameraConfiguration:
        return CameraConfiguration(roles, self._modes)

    def configure(self, config: CameraConfiguration) -> int:
        if self._running:
            return -1
        if config.mode is None and config.validate() is CameraConfiguration.Status.Invalid:
            return -22
        self._config = config
        self._mode = self._sensor.mode = config.mode
        self._frame_us = max(self._sensor.frame_duration_us, _frame_us(self._mode))
        self._sensor.configured = [
            (str(s.pixel_format), (s.size.width, s.size.height), s.buffer_count) for s in config
        ]
        return 0

    def create_request(self, cookie: int = 0) -> Request:
        return Request(cookie)

    def start(self, controls_: dict | None = None) -> None:
        if self._running:
            raise RuntimeError("Failed to start camera")
        self._apply(controls_ or {})
        self._running = True
        self._streaming = False
        self._thread = threading.Thread(target=self._run, name="fake-libcamera-sensor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._cond:
            cancelled, self._queue = self._queue, []
        for request in cancelled:
            request.status = Request.Status.Cancelled
        self._complete(cancelled)

    def queue_request(self, request: Request) -> None:
        with self._cond:
            if not self._running:
                raise RuntimeError("Failed to queue request")
            self._queue.append(request)
            self._sensor.queued_max = max(self._sensor.queued_max, len(self._queue))
            self._cond.notify_all()

    def _apply(self, values: dict) -> None:
        limits = values.get(controls.FrameDurationLimits)
        if limits:  # no faster than the mode can go
            self._frame_us = max(int(limits[0]), _frame_us(self._mode))

    def _run(self) -> None:
        """The sensor: a frame every frame duration into the oldest queued request.

        With ``Sensor.drop_without_buffer``, a frame that is due while no request is
        queued (the application holds every buffer) is lost, as the Pi's CSI-2 receiver
        loses it: counted in ``frames_dropped``, its sequence number and time skipped.
        Else the sensor waits for a request, and its frames are never lost.
        """
        sensor = self._sensor
        start_ns = time.monotonic_ns()
        n = 0
        while True:
            due_ns = start_ns + n * self._frame_us * 1000
            with self._cond:
                if sensor.drop_without_buffer and self._streaming:
                    while self._running and time.monotonic_ns() < due_ns:
                        self._cond.wait(max(0.0, (due_ns - time.monotonic_ns()) / 1e9))
                    if self._running and not self._queue:
                        sensor.frames_dropped += 1
                        n += 1
                        continue
                while self._running and (not self._queue or time.monotonic_ns() < due_ns):
                    wait_s = max(0.0, (due_ns - time.monotonic_ns()) / 1e9)
                    self._cond.wait(wait_s if self._queue else None)
                if not self._running:
                    return
                limit = sensor.fail_after_frames
                if limit is not None and sensor.frames_delivered >= limit:
                    self._cond.wait_for(lambda: not self._running)  # the cable came loose
                    return
                request = self._queue.pop(0)
                self._streaming = True  # streaming starts with the first buffer
            self._apply(request.controls)
            for stream, buffer in request.buffers.items():
                data = _picture(sensor, stream.configuration, n)
                if data is not None:
                    with mmap.mmap(buffer.planes[0].fd, buffer.planes[0].length) as memory:
                        memory[: len(data)] = data
                buffer.metadata.status = FrameMetadata.Status.Success
                buffer.metadata.sequence = n
            request.metadata = {
                controls.SensorTimestamp: max(due_ns, start_ns),
                controls.ExposureTime: 20_000,
                controls.AnalogueGain: 2.0,
                controls.DigitalGain: 1.0,
                controls.FrameDuration: self._frame_us,
            }
            request.status = Request.Status.Complete
            sensor.frames_delivered += 1
            n += 1
            self._complete([request])

    def _complete(self, requests: list[Request]) -> None:
        manager = self._manager()
        if manager is not None:
            manager._complete(requests)


class CameraManager:
    """libcamera's camera manager: the cameras, and completed requests on ``event_fd``.

    The sensor modes are read when it starts; it lives while someone holds it.
    """

    _instance: weakref.ref[CameraManager] | None = None

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK)
        self._ready: list[Request] = []
        self._lock = threading.Lock()
        sensor = active_sensor()
        modes = modes_of(sensor.model, sensor.hdr)
        self.cameras = [Camera(self, sensor, modes)] if sensor.attached else []

    def __del__(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            os.close(fd)

    @classmethod
    def singleton(cls) -> CameraManager:
        manager = cls._instance() if cls._instance is not None else None
        if manager is None:
            manager = cls()
            cls._instance = weakref.ref(manager)
        return manager

    @property
    def event_fd(self) -> int:
        return self._read_fd

    def get(self, camera_id: str) -> Camera:
        return next(c for c in self.cameras if c.id == camera_id)

    def find(self, camera_id: str) -> Camera:
        return self.get(camera_id)

    def get_ready_requests(self) -> list[Request]:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            ready, self._ready = self._ready, []
        return ready

    def _complete(self, requests: list[Request]) -> None:
        if not requests:
            return
        with self._lock:
            self._ready.extend(requests)
        os.write(self._write_fd, b"\x01")
