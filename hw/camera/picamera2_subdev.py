"""The camera sensor's V4L2 sub-device: the IMX708's sensor HDR control, set without OpenCV.

The Camera Module 3 (IMX708) switches its sensor HDR with the V4L2 control
``V4L2_CID_WIDE_DYNAMIC_RANGE`` on the sensor's sub-device node (``/dev/v4l-subdevN``).
picamera2's helper for it, ``picamera2.devices.imx708.IMX708``, is not used: importing it
imports ``picamera2.devices``, whose ``imx500`` package imports ``cv2`` at module level in
picamera2 0.3.22 to 0.3.36; OpenCV is no dependency of picamera2, so on a stock Pi OS the
import fails (raspberrypi/bookworm-feedback#420), and where python3-opencv is installed
it costs about 15 s on a Zero 2 W, right before the first frame.

What that helper does, done here with the standard library:

* the sensor's node is the ``v4l-subdevN`` whose ``device/driver/module`` link names the
  sensor's kernel module and whose ``device/of_node`` link ends in the camera's libcamera
  ``Id`` (its device-tree path);
* the control is read (``VIDIOC_G_CTRL``) and written (``VIDIOC_S_CTRL``) only when it
  differs: a write changes the sensor's modes, which libcamera reads when its camera
  manager starts, so the caller then resets picamera2's camera manager.

The ``/sys`` and ``/dev`` roots and the ``ioctl`` call are injected, so tests run on a
fake sub-device tree.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "V4L2_CID_WIDE_DYNAMIC_RANGE",
    "VIDIOC_G_CTRL",
    "VIDIOC_S_CTRL",
    "SensorSubdevices",
    "SubdeviceNotFound",
    "reset_camera_manager",
]

#: ``V4L2_CID_CAMERA_CLASS_BASE + 21`` (linux/v4l2-controls.h): the IMX708's sensor HDR.
V4L2_CID_WIDE_DYNAMIC_RANGE = 0x009A0915

#: ``struct v4l2_control { __u32 id; __s32 value; }`` (linux/videodev2.h).
V4L2_CONTROL = struct.Struct("=Ii")

#: ``_IOWR('V', 27, struct v4l2_control)`` and ``_IOWR('V', 28, struct v4l2_control)``.
VIDIOC_G_CTRL = 0xC008561B
VIDIOC_S_CTRL = 0xC008561C

#: ``ioctl(fd, request, buffer)`` as :func:`fcntl.ioctl` with a mutable buffer.
Ioctl = Callable[[int, int, bytearray], Any]

_SUBDEV = re.compile(r"v4l-subdev(\d+)")


class SubdeviceNotFound(LookupError):
    """No V4L2 sub-device belongs to the camera."""


class SensorSubdevices:
    """The V4L2 sub-device nodes of the camera sensors, and their controls.

    Args:
        sys_root: Where sysfs is mounted.
        dev_root: Where the device nodes are.
        ioctl: The ``ioctl`` call, :func:`fcntl.ioctl`'s signature.
    """

    def __init__(
        self,
        sys_root: str | Path = "/sys",
        dev_root: str | Path = "/dev",
        ioctl: Ioctl = fcntl.ioctl,
    ) -> None:
        self.sys_root = Path(sys_root)
        self.dev_root = Path(dev_root)
        self._ioctl = ioctl

    def find(self, module: str, camera_id: str) -> Path:
        """The sub-device node of the sensor driven by ``module`` at ``camera_id``.

        Args:
            module: The sensor's kernel module (``"imx708"``).
            camera_id: The camera's libcamera ``Id``, its device-tree path
                (``"/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"``).

        Raises:
            SubdeviceNotFound: No sub-device has that module and device-tree node.
        """
        classes = self.sys_root / "class" / "video4linux"
        try:
            names = [n for n in os.listdir(classes) if _SUBDEV.fullmatch(n)]
        except OSError as exc:
            raise SubdeviceNotFound(f"no V4L2 sub-devices ({classes}: {exc.strerror})") from exc
        for name in sorted(names, key=lambda n: int(_SUBDEV.fullmatch(n).group(1))):
            device = classes / name / "device"
            if (
                _link_target(device / "driver" / "module").rsplit("/", 1)[-1] == module
                and camera_id
                and _link_target(device / "of_node").endswith(camera_id)
            ):
                return self.dev_root / name
        raise SubdeviceNotFound(f"no V4L2 sub-device of {module} at {camera_id or '(no id)'}")

    def get_control(self, node: Path, control_id: int) -> int:
        """The current value of a control (``VIDIOC_G_CTRL``).

        Raises:
            OSError: The node cannot be opened or the ioctl failed.
        """
        with _Node(node) as fd:
            buffer = bytearray(V4L2_CONTROL.pack(control_id, 0))
            self._ioctl(fd, VIDIOC_G_CTRL, buffer)
        return V4L2_CONTROL.unpack(buffer)[1]

    def set_control(self, node: Path, control_id: int, value: int) -> None:
        """Write a control (``VIDIOC_S_CTRL``).

        Raises:
            OSError: The node cannot be opened or the ioctl failed (EBUSY while the
                sensor streams).
        """
        with _Node(node) as fd:
            self._ioctl(fd, VIDIOC_S_CTRL, bytearray(V4L2_CONTROL.pack(control_id, value)))

    def set_wide_dynamic_range(self, module: str, camera_id: str, on: bool) -> bool:
        """Switch the sensor's HDR (``V4L2_CID_WIDE_DYNAMIC_RANGE``) to ``on``.

        Returns:
            True when the control was written; False when it already had that value.

        Raises:
            SubdeviceNotFound: The sensor's sub-device is not there.
            OSError: It cannot be opened, read or written.
        """
        node = self.find(module, camera_id)
        wanted = int(bool(on))
        if self.get_control(node, V4L2_CID_WIDE_DYNAMIC_RANGE) == wanted:
            return False
        self.set_control(node, V4L2_CID_WIDE_DYNAMIC_RANGE, wanted)
        return True


def reset_camera_manager(picamera2_class: Any) -> bool:
    """Make picamera2 start a new libcamera camera manager, which reads the sensor modes.

    picamera2 0.3.20 and later keep their camera manager (``Picamera2._cm``) between
    cameras and offer ``reset()``; earlier releases drop it when their last camera closes,
    so there is nothing to reset.

    Returns:
        True when picamera2's ``reset`` was called.
    """
    reset = getattr(getattr(picamera2_class, "_cm", None), "reset", None)
    if not callable(reset):
        return False
    reset()
    return True


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


class _Node:
    """An open sub-device node (read-write, as the control ioctls need)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> int:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        return self._fd

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)
