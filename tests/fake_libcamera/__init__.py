"""A fake ``libcamera`` binding for running the real picamera2 package off the Pi.

Only the hardware is faked: the camera manager, one sensor, its configuration, and the
requests it completes, whose frame buffers are real shared memory (``memfd``) that
picamera2 maps and reads with numpy like DMA buffers on a Pi. Everything above it is the
picamera2 installed from the package index: ``Picamera2``, its event loop
(``process_requests``), ``CompletedRequest``, ``MappedArray``, the encoders and outputs.

The sensor's modes are :mod:`tests.sensor_modes`' table for its model. As in libcamera,
the camera manager reads them when it starts (``CameraManager.singleton()`` gives the
living manager or starts one), the configuration's ``sensor_config`` (or else the raw
stream's size) selects one, and the camera's controls then are that mode's (its frame
duration limits, its ``ScalerCrop`` maximum). An IMX708's HDR is its V4L2 control
(:meth:`Sensor.attach_v4l2`); a camera manager started after a write shows the HDR modes.

The ``libcamera`` package lives in this directory, which is not on ``sys.path``; it is
importable only inside :func:`installed`, which also forgets every ``picamera2`` module on
leaving so that the next test imports picamera2 afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tests.sensor_modes import Mode

if TYPE_CHECKING:
    from tests.fake_v4l2 import FakeSubdevices

FAKE_DIR = Path(__file__).resolve().parent
_MODULES = ("picamera2", "libcamera", "pykms")

_active: list[Sensor] = []


@dataclass
class Sensor:
    """The camera attached to the fake Pi.

    Attributes:
        pictures: The scene, one yuv420p picture (``(h * 3 // 2, w)`` uint8) a frame, in a
            loop; streams of other sizes show it scaled.
        model: The sensor's ``Model`` property (``imx708_wide``, ``imx219``, ``imx477``).
        camera_id: Its libcamera ``Id`` (device-tree path); None: a Pi 5's first
            connector, at the sensor's I2C address.
        hdr: The IMX708 sensor HDR is on (its V4L2 control): a camera manager started
            while it is on offers its HDR mode only (2304x1296).
        frame_duration_us: Time between frames when no frame duration is set.
        attached: False: no camera is attached (``CameraManager.cameras`` is empty).
        fail_after_frames: The sensor completes no request after this many frames, as with
            a loose ribbon cable (libcamera reports nothing; frames just stop).
        drop_without_buffer: A frame due while no request is queued is lost (as on a
            Pi, where the application holding every buffer costs frames); else the sensor
            waits for a request and never loses a frame (a loaded test machine then
            delays frames instead of losing them).
        frames_delivered: Requests the sensor completed so far.
        frames_dropped: Frames lost for want of a queued request.
        queued_max: The most requests libcamera held at once (the buffer count in use).
        configured: The last configuration applied, per stream: (format, size, buffers).
        mode: The sensor mode of the last configuration applied.
        v4l2: The V4L2 sub-devices, once :meth:`attach_v4l2` made them.
    """

    pictures: list[np.ndarray]
    model: str = "imx708_wide"
    camera_id: str | None = None
    hdr: bool = False
    frame_duration_us: int = 33_333
    attached: bool = True
    fail_after_frames: int | None = None
    drop_without_buffer: bool = False
    frames_delivered: int = 0
    frames_dropped: int = 0
    queued_max: int = 0
    configured: list[tuple[str, tuple[int, int], int]] = field(default_factory=list)
    mode: Mode | None = None
    v4l2: FakeSubdevices | None = None

    def __post_init__(self) -> None:
        if self.camera_id is None:
            address = "10" if self.model.startswith("imx219") else "1a"
            chip = self.model.split("_")[0]
            self.camera_id = f"/base/axi/pcie@120000/rp1/i2c@88000/{chip}@{address}"

    def attach_v4l2(self, root: Path):
        """The sensor's V4L2 sub-devices under ``root`` (:mod:`tests.fake_v4l2`); an
        IMX708's HDR control is ``hdr``."""
        from tests.fake_v4l2 import Linked, camera_subdevices

        hdr = Linked(lambda: int(self.hdr), lambda v: setattr(self, "hdr", bool(v)))
        tree = camera_subdevices(root, self.model, self.camera_id, hdr)
        self.v4l2 = tree
        return tree


def active_sensor() -> Sensor:
    """The sensor of the innermost :func:`installed` block."""
    if not _active:
        raise RuntimeError("the fake libcamera is used outside tests.fake_libcamera.installed")
    return _active[-1]


def _forget_modules() -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in _MODULES:
            del sys.modules[name]


@contextlib.contextmanager
def installed(sensor: Sensor) -> Iterator[Sensor]:
    """Make ``import libcamera`` give the fake bound to ``sensor``; picamera2 is the real one."""
    from tests import picamera2_standin

    if picamera2_standin._active:
        raise RuntimeError("the picamera2 stand-in is installed; use one or the other")
    if not _active:
        _forget_modules()  # a picamera2 imported before (without libcamera) is imported anew
    sys.path.insert(0, str(FAKE_DIR))
    _active.append(sensor)
    try:
        yield sensor
    finally:
        _active.remove(sensor)
        _forget_exit_closes()
        if str(FAKE_DIR) in sys.path:
            sys.path.remove(str(FAKE_DIR))
        if not _active:
            _forget_modules()


def _forget_exit_closes() -> None:
    """Drop the ``atexit`` close of every Picamera2 the test left open.

    A camera whose picamera2 ``stop()`` hung (the backend gives up after its bound) is
    never closed; at interpreter exit picamera2's own ``atexit`` close would then fail
    without a DMA heap and print a traceback after the test run's summary.
    """
    picamera2 = sys.modules.get("picamera2.picamera2")
    manager = getattr(getattr(picamera2, "Picamera2", None), "_cm", None)
    for camera in list(getattr(manager, "cameras", {}).values()):
        atexit.unregister(camera.close)


def memfd_allocator():
    """picamera2's ``DmaAllocator`` with ``memfd`` memory in place of the DMA heap.

    All of picamera2's allocator code runs (allocation per stream config, persistent
    mappings, acquire/release, clean-up); only the two hardware steps are replaced: the
    ``/dev/dma_heap`` allocation ioctl (a ``memfd`` of the same size instead) and the
    DMA-BUF cache sync ioctl around each access (shared memory needs none).
    """
    import os

    from picamera2.allocators import DmaAllocator
    from picamera2.dma_heap import UniqueFD

    class _MemfdHeap:
        def alloc(self, name: str, size: int) -> UniqueFD:
            fd = os.memfd_create(name)
            os.ftruncate(fd, size)
            return UniqueFD(fd)

        def close(self) -> None:
            pass

    class _MemfdSync(DmaAllocator.DmaSync):
        def __enter__(self):
            return self.get_buffer()

        def __exit__(self, exc_type=None, exc_value=None, exc_traceback=None):
            pass

    class MemfdAllocator(DmaAllocator):
        def __init__(self) -> None:
            # DmaAllocator.__init__ opens the DMA heap; set up the same fields without it.
            self.dmaHeap = _MemfdHeap()
            self.mapped_buffers = {}
            self.mapped_buffers_used = {}
            self.frame_buffers = {}
            self.open_fds = []
            self.libcamera_fds = []
            self.sync = _MemfdSync

    return MemfdAllocator()
