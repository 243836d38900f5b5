"""A stand-in for the ``picamera2`` and ``libcamera`` packages, for tests off the Pi.

The packages live in this directory, which is not on ``sys.path``: they are importable as
``picamera2`` and ``libcamera`` only inside :func:`installed`. They speak the interface of
picamera2 itself (``Picamera2``, ``H264Encoder``, ``MJPEGEncoder``, ``Output``,
``libcamera.Transform`` and ``controls``), and the encoders call an ``Output`` as
picamera2's do: ``outputframe(frame, keyframe, timestamp, packet, audio)`` from the
encoder's own thread, ``timestamp`` in microseconds since the encoder's first frame.

The :class:`Board` is the hardware: which cameras are attached and what the sensor sees,
which is a real H.264 MP4 file whose packets the H.264 encoder gives out (Annex B, SPS/PPS
before every IDR as picamera2's ``repeat=True``) and whose decoded pictures are the main
and lores streams.

``Board.release`` picks the picamera2 release whose behaviour the stand-in shows (checked
against the upstream sources of each release):

* before 0.3.17: ``Picamera2.wait(job)`` takes no ``timeout``;
* before 0.3.25: encoders call ``out.outputframe(frame, keyframe, timestamp)``, three
  arguments;
* before 0.3.26: ``capture_file`` cannot make a JPEG of a YUV420 stream (it raises);
* before 0.3.27: a buffer of the V4L2 encoder that holds only SPS/PPS (``split_headers``)
  reaches the output flagged as a keyframe; from 0.3.27 on picamera2 drops such a buffer,
  so the IDR that follows arrives without its SPS/PPS;
* before 0.3.32: ``H264Encoder`` has no ``force_key_frame``;
* before 0.3.16: ``create_video_configuration`` takes no ``sensor`` (the mode follows the
  raw stream's size);
* before 0.3.20: picamera2's camera manager has no ``reset()``; it drops libcamera's when
  its last camera closes.

The sensor modes are :mod:`tests.sensor_modes`' tables. libcamera reads them when its
camera manager starts: a change of the IMX708's HDR control (through the board's V4L2
sub-devices, :meth:`Board.attach_v4l2`) shows in a camera opened after the manager was
reset or started anew, as on a Pi.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from av.bitstream import BitStreamFilterContext

if TYPE_CHECKING:
    from tests.fake_v4l2 import FakeSubdevices
    from tests.sensor_modes import Mode

STANDIN_DIR = Path(__file__).resolve().parent
_MODULES = ("picamera2", "libcamera")

#: The releases whose behaviour the stand-in can show; the last is the current one.
RELEASES = ("0.3.16", "0.3.22", "0.3.31", "0.3.38")
CURRENT_RELEASE = RELEASES[-1]


def release_tuple(release: str) -> tuple[int, ...]:
    """``"0.3.16"`` as ``(0, 3, 16)``."""
    return tuple(int(part) for part in release.split("."))


#: The board the stand-in modules use while installed.
_active: list[Board] = []


@dataclass
class SourceFrame:
    """One frame of the source file: the encoded access unit and the picture."""

    data: bytes  # Annex B, SPS/PPS in-line before an IDR
    keyframe: bool
    yuv: np.ndarray  # yuv420p, (h * 3 // 2, w)


_cache: dict[str, list[SourceFrame]] = {}


def load_source(path: Path) -> list[SourceFrame]:
    """Demux an H.264 MP4 into Annex B access units and decode each picture."""
    key = str(path)
    if key not in _cache:
        frames: list[SourceFrame] = []
        decoder = av.CodecContext.create("h264", "r")
        with av.open(key) as container:
            stream = container.streams.video[0]
            bsf = BitStreamFilterContext("h264_mp4toannexb", stream)
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                keyframe = packet.is_keyframe  # read before the filter takes the packet
                data = b"".join(bytes(out) for out in bsf.filter(packet))
                pictures = decoder.decode(av.Packet(data))
                assert len(pictures) == 1, "the source must not delay frames"
                yuv = pictures[0].reformat(format="yuv420p").to_ndarray()
                frames.append(SourceFrame(data, keyframe, yuv))
        assert frames and frames[0].keyframe
        _cache[key] = frames
    return _cache[key]


@dataclass
class Board:
    """The simulated Pi: attached cameras and what the sensor sees.

    Attributes:
        source: An H.264 MP4 (no B-frames, starting with a keyframe).
        cameras: What ``Picamera2.global_camera_info()`` lists; empty means no camera.
        has_autofocus: The camera offers ``AfMode`` (Camera Module 3).
        realtime: Pace frames at the configured frame duration; else as fast as possible.
        fail_after_frames: The sensor stops delivering after this many frames, as with a
            loose ribbon cable (picamera2 reports nothing; frames just stop).
        quiet: While set, the sensor delivers nothing (the cable came loose mid-run).
        calls: What the backend asked of picamera2, in order, for assertions.
        outputframe_args: The arguments of every ``outputframe`` call the H.264 encoder made.
        release: The picamera2 release whose behaviour the stand-in shows (see the module).
        split_headers_from: From this source frame on, the V4L2 encoder hands each IDR's
            SPS/PPS over in a buffer of its own, before the buffer with the IDR slice (as
            the Pi's encoder does at low bit rates); None: always in-line.
        sensor_hdr: The IMX708's sensor HDR is on (its V4L2 control's value).
        sensor_mode: The sensor mode of the last ``configure`` (a
            :class:`tests.sensor_modes.Mode`).
        v4l2: The V4L2 sub-devices, once :meth:`attach_v4l2` made them.
        cma_bytes: The contiguous memory for frame buffers; None: plenty.
            ``sensor_modes`` configures each mode with 4 raw buffers and a 640x480
            preview stream, as picamera2 does, and fails as it does where they do not fit.
        hang_stop: ``Picamera2.stop`` of a started camera blocks until :attr:`unhang` is
            set, as ``stop_recording`` does after a frontend timeout (picamera2 #1264).
        unhang: Ends the blocked stops; set when the stand-in is uninstalled.
        held: Cameras a ``Picamera2`` holds open: another ``Picamera2`` of the same number
            fails, as libcamera's ``acquire`` does (EBUSY) until the first is closed.
    """

    source: Path
    cameras: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {
                "Model": "imx708_wide",
                "Location": 2,
                "Rotation": 180,
                "Id": "/base/i2c@88000/imx708@1a",
                "Num": 0,
            }
        ]
    )
    has_autofocus: bool = True
    realtime: bool = True
    fail_after_frames: int | None = None
    quiet: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)
    outputframe_args: list[tuple[Any, ...]] = field(default_factory=list)
    release: str = CURRENT_RELEASE
    split_headers_from: int | None = None
    sensor_hdr: bool = False
    sensor_mode: Mode | None = None
    v4l2: FakeSubdevices | None = None
    cma_bytes: int | None = None
    hang_stop: bool = False
    unhang: threading.Event = field(default_factory=threading.Event)
    held: set[int] = field(default_factory=set)

    @property
    def version(self) -> tuple[int, ...]:
        return release_tuple(self.release)

    @property
    def frames(self) -> list[SourceFrame]:
        return load_source(self.source)

    def called(self, name: str) -> list[Any]:
        """The arguments of every call named ``name``."""
        return [args for n, args in self.calls if n == name]

    def attach_v4l2(self, root: Path) -> FakeSubdevices:
        """The V4L2 sub-devices of this Pi under ``root`` (:mod:`tests.fake_v4l2`), for its
        first camera; an IMX708's HDR control is ``sensor_hdr``."""
        from tests.fake_v4l2 import Linked, camera_subdevices

        camera = self.cameras[0]
        hdr = Linked(lambda: int(self.sensor_hdr), lambda v: setattr(self, "sensor_hdr", bool(v)))
        tree = camera_subdevices(root, camera["Model"], camera["Id"], hdr)
        self.v4l2 = tree
        return tree


def active_board() -> Board:
    """The board of the innermost :func:`installed` block."""
    if not _active:
        raise RuntimeError(
            "the picamera2 stand-in is used outside tests.picamera2_standin.installed"
        )
    return _active[-1]


@contextlib.contextmanager
def installed(board: Board) -> Iterator[Board]:
    """Make ``import picamera2`` and ``import libcamera`` give the stand-in, with ``board``."""
    for name in _MODULES:
        if name in sys.modules and not _is_standin(sys.modules[name]):
            raise RuntimeError(f"a real {name} is already imported")
    sys.path.insert(0, str(STANDIN_DIR))
    _active.append(board)
    try:
        yield board
    finally:
        board.unhang.set()  # a stop left blocked ends (picamera2 closes at exit too)
        _active.remove(board)
        if str(STANDIN_DIR) in sys.path:
            sys.path.remove(str(STANDIN_DIR))
        if not _active:
            for name in list(sys.modules):
                if name.split(".")[0] in _MODULES:
                    del sys.modules[name]


def _is_standin(module: Any) -> bool:
    return str(getattr(module, "__file__", "") or "").startswith(str(STANDIN_DIR))


def install_for(request: Any, board: Board) -> Board:
    """Install the stand-in with ``board`` for the rest of a pytest test (``request``)."""
    stack = contextlib.ExitStack()
    stack.enter_context(installed(board))
    request.addfinalizer(stack.close)
    return board
