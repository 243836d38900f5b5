"""The Pi's health as sysfs and procfs show it: CPU temperature, the firmware's throttling
flags, the card's block counters and the seconds since the kernel started.

Every path is read under an injected root folder (``"/"`` on a Pi; a fake tree in tests),
and anything missing or unreadable reads as None: a laptop has no ``get_throttled``, a
card on a loop device or a tmpfs has no block counters. Nothing here raises.

Where the Pi shows what:

- ``sys/class/thermal/thermal_zone0/temp``: the SoC's temperature in millidegrees Celsius.
- ``sys/devices/platform/soc*/*firmware/get_throttled``: the firmware's flags as hex
  without ``0x`` (the raspberrypi firmware driver prints them with ``"%x"``); the bit
  meanings are :data:`appliance.health.THROTTLE_BITS`.
- ``sys/class/hwmon/hwmon*/``, the one whose ``name`` is ``rpi_volt``: ``in0_lcrit_alarm``
  is 1 while the supply is under-voltage (kernels whose firmware driver no longer has
  ``get_throttled`` keep this one).
- ``proc/self/mountinfo``: the mount holding the storage root and its ``major:minor``;
  ``sys/dev/block/<major>:<minor>`` links to the device, a partition's parent folder is
  its disk, whose ``stat`` counts sectors written (field 7, 512 bytes each, since boot).
- ``proc/uptime``: seconds since the kernel started; ``proc/sys/kernel/random/boot_id``:
  a new id at every boot.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from appliance.health import HealthReading

log = logging.getLogger(__name__)

#: The block layer's sector, whatever the device's own sector size.
SECTOR_BYTES = 512

#: Longest text read from one sysfs or procfs file.
_READ_LIMIT_BYTES = 256 * 1024

_THROTTLED_GLOBS = (
    "sys/devices/platform/soc/soc:firmware/get_throttled",
    "sys/devices/platform/soc*/*firmware/get_throttled",
    "sys/devices/platform/*firmware/get_throttled",
)


def _read_text(path: str) -> str | None:
    """The text of a small file; None if it is missing or unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read(_READ_LIMIT_BYTES).decode("ascii", "replace")
    except OSError:
        return None


def _unescape(field: str) -> str:
    """A mountinfo path: the kernel writes space, tab, newline and backslash as octal."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_device(mountinfo: str, path: str) -> tuple[int, int] | None:
    """The ``(major, minor)`` of the mount holding ``path`` (the longest mount point that
    contains it; a later mount over the same point wins), from ``mountinfo``'s text."""
    best: tuple[int, tuple[int, int]] | None = None
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) < 5 or ":" not in parts[2]:
            continue
        point = _unescape(parts[4])
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if not inside:
            continue
        try:
            major, minor = (int(n) for n in parts[2].split(":", 1))
        except ValueError:
            continue
        if best is None or len(point) >= best[0]:
            best = (len(point), (major, minor))
    return None if best is None else best[1]


class SysfsHealth:
    """Reads the health figures under ``root`` (:class:`appliance.health.HealthSource`).

    Args:
        storage_root: The folder whose card's writes are counted (a real path: the mount
            table names real paths).
        root: Where ``sys`` and ``proc`` are (``"/"`` on a Pi).
    """

    def __init__(self, storage_root: str, root: str = "/") -> None:
        self.storage_root = storage_root
        self.root = root
        self._block_stat: str | None = None  # the card's stat file, found at first read
        self._block_for: tuple[int, int] | None = None

    def _path(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def read(self) -> HealthReading:
        """One reading; what cannot be read is None."""
        return HealthReading(
            cpu_temp_c=self.cpu_temp_c(),
            throttled=self.throttled(),
            under_voltage_alarm=self.under_voltage_alarm(),
            card_written_bytes=self.card_written_bytes(),
            boot_id=self.boot_id(),
            uptime_s=self.uptime_s(),
        )

    def cpu_temp_c(self) -> float | None:
        """The SoC's temperature in °C."""
        text = _read_text(self._path("sys/class/thermal/thermal_zone0/temp"))
        try:
            return int(text.strip()) / 1000.0 if text is not None else None
        except ValueError:
            return None

    def throttled(self) -> int | None:
        """The firmware's throttling flags (``get_throttled``); None where it is absent."""
        for pattern in _THROTTLED_GLOBS:
            for path in sorted(glob.glob(self._path(pattern))):
                text = _read_text(path)
                if text is None:
                    continue
                value = text.strip().lower().removeprefix("0x")
                try:
                    return int(value, 16)
                except ValueError:
                    continue
        return None

    def under_voltage_alarm(self) -> bool | None:
        """``rpi_volt``'s ``in0_lcrit_alarm``: True while under-voltage; None without it."""
        for folder in sorted(glob.glob(self._path("sys/class/hwmon/hwmon*"))):
            name = _read_text(os.path.join(folder, "name"))
            if name is None or name.strip() != "rpi_volt":
                continue
            alarm = _read_text(os.path.join(folder, "in0_lcrit_alarm"))
            if alarm is not None and alarm.strip() in ("0", "1"):
                return alarm.strip() == "1"
        return None

    def uptime_s(self) -> float | None:
        """Seconds since the kernel started (``/proc/uptime``'s first figure)."""
        text = _read_text(self._path("proc/uptime"))
        try:
            return float(text.split()[0]) if text else None
        except (ValueError, IndexError):
            return None

    def boot_id(self) -> str | None:
        """This boot's id (a new one at every boot)."""
        text = _read_text(self._path("proc/sys/kernel/random/boot_id"))
        return (text.strip() or None) if text is not None else None

    def card_written_bytes(self) -> int | None:
        """Bytes written to the disk holding the storage root since boot."""
        path = self._find_block_stat()
        text = _read_text(path) if path is not None else None
        if text is None:
            return None
        fields = text.split()
        try:
            return int(fields[6]) * SECTOR_BYTES
        except (IndexError, ValueError):
            return None

    def block_device(self) -> str | None:
        """The name of the disk holding the storage root (``mmcblk0``), or None."""
        path = self._find_block_stat()
        return None if path is None else os.path.basename(os.path.dirname(path))

    def _find_block_stat(self) -> str | None:
        """The ``stat`` file of the disk holding the storage root (a partition maps to its
        disk); looked up again if the mount changed (another card)."""
        text = _read_text(self._path("proc/self/mountinfo"))
        if text is None:
            return None
        device = mount_device(text, os.path.realpath(self.storage_root))
        if device is None or device[0] == 0:  # major 0: tmpfs, overlay, no block device
            return None
        if device == self._block_for and self._block_stat is not None:
            return self._block_stat
        link = self._path(f"sys/dev/block/{device[0]}:{device[1]}")
        folder = os.path.realpath(link)
        if not os.path.isdir(folder):
            return None
        if os.path.exists(os.path.join(folder, "partition")):
            folder = os.path.dirname(folder)
        stat_path = os.path.join(folder, "stat")
        if not os.path.isfile(stat_path):
            return None
        self._block_for, self._block_stat = device, stat_path
        return stat_path
