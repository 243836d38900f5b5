"""Stand-in for ``picamera2.encoders``: ``Encoder``, ``H264Encoder``, ``MJPEGEncoder``.

Like picamera2's V4L2 encoders, each encodes on its own thread and calls its outputs from
there as ``out.outputframe(frame, keyframe, timestamp, packet, audio)``, with ``frame``
the encoded bytes, ``timestamp`` in microseconds since the encoder's first frame,
``packet=None`` and ``audio=False`` (before 0.3.25 with the first three only).
``H264Encoder.force_key_frame`` exists from 0.3.32 on, as in picamera2.
"""

from __future__ import annotations

import enum
import io
import queue
import threading

import av
from libcamera import controls
from picamera2.outputs import Output

from tests.picamera2_standin import active_board

_NAL_SPS, _NAL_PPS = 7, 8

#: The release of the board the modules were imported for (see tests.picamera2_standin).
_RELEASE = active_board().version


class Quality(enum.Enum):
    VERY_LOW = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    VERY_HIGH = 4


class Encoder:
    """The encoder base: stream geometry, outputs, frame skipping, timestamps."""

    kind = "raw"

    def __init__(self, framerate=30):
        self.width = self.height = self.stride = 0
        self.format = None
        self.name = None
        self._output: list[Output] = []
        self._running = False
        self._lock = threading.Lock()
        self._output_lock = threading.Lock()
        self.firsttimestamp = None
        self.frame_skip_count = 1
        self._skip_count = 0
        self.frames_encoded = 0
        self.framerate = framerate
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    @property
    def running(self):
        return self._running

    @property
    def output(self):
        return self._output[0] if len(self._output) == 1 else self._output

    @output.setter
    def output(self, value):
        value = value if isinstance(value, list) else [value]
        for out in value:
            if not isinstance(out, Output):
                raise RuntimeError("Must pass Output")
        self._output = value

    def encode(self, stream, request):
        if self._skip_count == 0:
            with self._lock:
                if not self._running:
                    return
                self._encode(stream, request)
        self._skip_count = (self._skip_count + 1) % self.frame_skip_count
        self.frames_encoded += 1

    def start(self, quality=None):
        with self._lock:
            if self._running:
                raise RuntimeError("Encoder already running")
            self._running = True
            self.firsttimestamp = None
            for out in self._output:
                out.start()
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._poll, name=f"standin-{self.kind}-encoder")
            self._thread.start()

    def stop(self):
        with self._lock:
            if not self._running:
                raise RuntimeError("Encoder already stopped")
            self._running = False
            self._queue.put(None)
            if self._thread is not None:
                self._thread.join()
            for out in self._output:
                out.stop()

    if _RELEASE >= (0, 3, 25):

        def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False):
            with self._output_lock:
                for out in self._output:
                    out.outputframe(frame, keyframe, timestamp, packet, audio)

    else:

        def outputframe(self, frame, keyframe=True, timestamp=None):
            with self._output_lock:
                for out in self._output:
                    out.outputframe(frame, keyframe, timestamp)

    def _timestamp(self, request):
        ts = int(request.request.metadata[controls.SensorTimestamp] / 1000)  # ns to us
        if self.firsttimestamp is None:
            self.firsttimestamp = ts
            return 0
        return ts - self.firsttimestamp

    def _poll(self):
        """The encoder's thread: hands finished frames to the outputs."""
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._output_item(*item)

    def _encode(self, stream, request):
        raise NotImplementedError

    def _output_item(self, *item):
        raise NotImplementedError


class H264Encoder(Encoder):
    """The Pi's H.264 encoder; its pictures are the packets of the board's source file."""

    kind = "h264"

    def __init__(
        self,
        bitrate=None,
        repeat=True,
        iperiod=None,
        framerate=None,
        enable_sps_framerate=False,
        qp=None,
        profile=None,
    ):
        super().__init__()
        self.bitrate = bitrate
        self.repeat = repeat
        self.iperiod = iperiod
        self.framerate = framerate
        self.qp = qp
        self.profile = profile
        self._key_frames_requested = 0
        self._key_frames_generated = 0
        self._since_key = 0
        self._sent_headers = False
        active_board().calls.append(
            (
                "H264Encoder",
                {"bitrate": bitrate, "repeat": repeat, "iperiod": iperiod, "framerate": framerate},
            )
        )

    if _RELEASE >= (0, 3, 32):

        def force_key_frame(self):
            self._key_frames_requested += 1

    def wants_keyframe(self) -> bool:
        """The next frame must be an IDR (a request, or the I-period is up)."""
        if self._key_frames_requested > self._key_frames_generated:
            return True
        return bool(self.iperiod) and self._since_key >= self.iperiod - 1

    def _encode(self, stream, request):
        source = request.source
        if self._key_frames_requested > self._key_frames_generated and source.keyframe:
            self._key_frames_generated += 1
        self._since_key = 0 if source.keyframe else self._since_key + 1
        data = source.data
        if source.keyframe and not self.repeat and self._sent_headers:
            data = _strip_parameter_sets(data)
        self._sent_headers = self._sent_headers or source.keyframe
        timestamp_us = self._timestamp(request)
        split_from = active_board().split_headers_from
        if source.keyframe and split_from is not None and request.index >= split_from:
            headers = _parameter_sets(data)
            data = _strip_parameter_sets(data)
            # Flagged as a keyframe by the driver; from 0.3.27 picamera2 drops a buffer
            # without a picture (V4L2Encoder._check_for_picture).
            if headers and _RELEASE < (0, 3, 27):
                self._queue.put((headers, True, timestamp_us))
        self._queue.put((data, source.keyframe, timestamp_us))

    def _output_item(self, data, keyframe, timestamp_us):
        active_board().outputframe_args.append((type(data), keyframe, timestamp_us))
        self.outputframe(data, keyframe, timestamp_us)


class MJPEGEncoder(Encoder):
    """The Pi's MJPEG encoder: one JPEG per (unskipped) frame of its stream."""

    kind = "mjpeg"

    def __init__(self, bitrate=None):
        super().__init__()
        self.bitrate = bitrate
        active_board().calls.append(("MJPEGEncoder", {"bitrate": bitrate}))

    def _encode(self, stream, request):
        self._queue.put((request.picture(stream), self._timestamp(request)))

    def _output_item(self, yuv, timestamp_us):
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        out = io.BytesIO()
        frame.to_image().save(out, format="JPEG", quality=70)
        self.outputframe(out.getvalue(), True, timestamp_us)


def _parameter_sets(data: bytes) -> bytes:
    from hw.camera.annexb import nal_type, split_nal_units

    units = [u for u in split_nal_units(data) if u and nal_type(u) in (_NAL_SPS, _NAL_PPS)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def _strip_parameter_sets(data: bytes) -> bytes:
    from hw.camera.annexb import nal_type, split_nal_units

    units = [u for u in split_nal_units(data) if u and nal_type(u) not in (_NAL_SPS, _NAL_PPS)]
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)
