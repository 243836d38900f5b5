"""A fake V4L2 sub-device tree (``/sys/class/video4linux``, ``/dev/v4l-subdev*``) and ioctl.

The tree is laid out as the kernel lays it out on a Pi: ``v4l-subdevN/device`` holds the
links ``driver/module`` (to the kernel module) and ``of_node`` (to the device-tree node,
whose path is the libcamera camera ``Id``); ``/dev/v4l-subdevN`` is a file that opens
read-write. :meth:`FakeSubdevices.ioctl` takes ``VIDIOC_G_CTRL``/``VIDIOC_S_CTRL`` with a
``struct v4l2_control`` buffer, as :func:`fcntl.ioctl` does, and records every call. A
control is a value, or a :class:`Linked` pair of functions that read and write the state
of the simulated hardware it drives (an IMX708's HDR).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hw.camera.picamera2_subdev import (
    V4L2_CONTROL,
    VIDIOC_G_CTRL,
    VIDIOC_S_CTRL,
    SensorSubdevices,
)


@dataclass
class Linked:
    """A control that is the simulated hardware's state: ``get()`` reads it, ``set(v)``
    writes it."""

    get: Callable[[], int]
    set: Callable[[int], None]


class FakeSubdevices:
    """Sub-device nodes under ``root`` (``root/sys``, ``root/dev``) with their controls.

    Attributes:
        calls: ``(request name, node name, control id, value)`` for every ioctl.
        controls: The controls (values or :class:`Linked`), by node name and control id.
        fail_set: When set, ``VIDIOC_S_CTRL`` raises it (EBUSY while streaming).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sys_root = root / "sys"
        self.dev_root = root / "dev"
        (self.sys_root / "class" / "video4linux").mkdir(parents=True, exist_ok=True)
        self.dev_root.mkdir(parents=True, exist_ok=True)
        self.calls: list[tuple[str, str, int, int]] = []
        self.controls: dict[str, dict[int, int | Linked]] = {}
        self.fail_set: OSError | None = None

    def add(
        self, index: int, module: str, of_node: str, controls: dict[int, int | Linked] | None = None
    ) -> Path:
        """A sub-device ``v4l-subdev<index>`` of ``module`` at device-tree node ``of_node``."""
        name = f"v4l-subdev{index}"
        device = self.sys_root / "class" / "video4linux" / name / "device"
        (device / "driver").mkdir(parents=True)
        os.symlink(f"../../../../module/{module}", device / "driver" / "module")
        os.symlink(f"../../../../firmware/devicetree{of_node}", device / "of_node")
        (self.dev_root / name).write_bytes(b"")
        self.controls[name] = dict(controls or {})
        return self.dev_root / name

    def subdevices(self) -> SensorSubdevices:
        """The backend's sub-device access, on this tree and this ioctl."""
        return SensorSubdevices(sys_root=self.sys_root, dev_root=self.dev_root, ioctl=self.ioctl)

    def set_calls(self) -> list[tuple[str, int, int]]:
        """The ``VIDIOC_S_CTRL`` calls: (node name, control id, value)."""
        return [(node, cid, value) for op, node, cid, value in self.calls if op == "S_CTRL"]

    def ioctl(self, fd: int, request: int, buffer: bytearray) -> int:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        control_id, value = V4L2_CONTROL.unpack(buffer)
        controls = self.controls[name]
        control = controls.get(control_id)
        if request == VIDIOC_G_CTRL:
            if control is None:
                self.calls.append(("G_CTRL", name, control_id, -1))
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            current = control.get() if isinstance(control, Linked) else control
            buffer[:] = V4L2_CONTROL.pack(control_id, current)
            self.calls.append(("G_CTRL", name, control_id, current))
            return 0
        if request == VIDIOC_S_CTRL:
            self.calls.append(("S_CTRL", name, control_id, value))
            if self.fail_set is not None:
                raise self.fail_set
            if control is None:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            if isinstance(control, Linked):
                control.set(value)
            else:
                controls[control_id] = value
            return 0
        raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))


def camera_subdevices(
    root: Path, model: str, camera_id: str, hdr: Linked | None = None
) -> FakeSubdevices:
    """The sub-devices of a Pi with one camera, as its kernel lists them: the CSI-2
    receiver's, on a Camera Module 3 its lens driver's (dw9807), and the sensor's, whose
    HDR control (an IMX708's) is ``hdr``."""
    from hw.camera.picamera2_subdev import V4L2_CID_WIDE_DYNAMIC_RANGE

    tree = FakeSubdevices(root)
    chip = model.split("_")[0]
    tree.add(0, "rp1_cfe", "/base/axi/pcie@120000/rp1/csi@110000")
    controls: dict[int, int | Linked] = {}
    if chip == "imx708":
        tree.add(1, "dw9807_vcm", camera_id.rsplit("/", 1)[0] + "/dw9807@c")
        if hdr is not None:
            controls[V4L2_CID_WIDE_DYNAMIC_RANGE] = hdr
    tree.add(2, chip, camera_id, controls)
    return tree
