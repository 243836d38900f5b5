"""A fake Pi sysfs and procfs tree (the health watch's hardware boundary), made in tmp_path.

The layout is the Pi's: the SoC's thermal zone, the firmware's ``get_throttled``, the
``rpi_volt`` hwmon, the card as ``mmcblk0`` with its partition ``mmcblk0p2`` (179:2),
``/sys/dev/block`` links, ``/proc/self/mountinfo``, ``/proc/uptime`` and the boot id.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

CARD = "sys/devices/platform/soc/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0"
OTHER_DISK = "sys/devices/platform/scb/fd500000.pcie/usb1/1-1/host0/block/sda"


class FakeSys:
    """The tree under ``root``; ``storage`` (a real folder) is mounted from the card.

    Args:
        root: Where the tree is made.
        storage: The storage root the mount table names as the card's partition.
    """

    def __init__(self, root: Path, storage: Path) -> None:
        self.root = root
        self.storage = storage
        self.boot = 1
        self.write(f"{CARD}/mmcblk0p2/partition", "2\n")
        self.write(f"{OTHER_DISK}/sda1/partition", "1\n")
        self.link("sys/dev/block/179:2", f"{CARD}/mmcblk0p2")
        self.link("sys/dev/block/8:1", f"{OTHER_DISK}/sda1")
        self.write(
            "proc/self/mountinfo",
            # "/" on another disk, the storage on the card: the longest mount point wins;
            # a space in a mount point is written as \\040 by the kernel.
            "21 1 8:1 / / rw,noatime shared:1 - ext4 /dev/sda1 rw\n"
            "25 21 0:22 / /proc rw shared:12 - proc proc rw\n"
            f"30 21 179:2 / {str(storage).replace(' ', chr(92) + '040')} rw,noatime shared:5 "
            "- ext4 /dev/mmcblk0p2 rw\n",
        )
        self.set_temp_c(55.0)
        self.set_throttled(0)
        self.write("sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
        self.write("sys/class/hwmon/hwmon1/name", "rpi_volt\n")
        self.set_alarm(False)
        self.set_card_written(0)
        self.write("sys/block/sda/stat", self._stat(999_999))  # never the card
        self.set_uptime_s(12.5)
        self.write("proc/sys/kernel/random/boot_id", f"boot-{self.boot}\n")

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def link(self, relative: str, target: str) -> None:
        """A relative symlink, as sysfs makes them (it stays inside the tree)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(self.root / target, path.parent), path)

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink()

    @staticmethod
    def _stat(sectors_written: int) -> str:
        # read I/Os, merges, sectors, ticks; write I/Os, merges, sectors, ticks; ...
        return f"  1200  30  96000  500  800  20  {sectors_written}  900  0  1000  1400\n"

    def set_temp_c(self, temp_c: float) -> None:
        self.write("sys/class/thermal/thermal_zone0/temp", f"{round(temp_c * 1000)}\n")

    def set_throttled(self, bits: int) -> None:
        self.write("sys/devices/platform/soc/soc:firmware/get_throttled", f"{bits:x}\n")

    def set_alarm(self, on: bool) -> None:
        self.write("sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n" if on else "0\n")

    def set_card_written(self, n_bytes: int) -> None:
        """The card's writes since boot (its disk's stat; the partition's counts less)."""
        self.write(f"{CARD}/stat", self._stat(n_bytes // 512))
        self.write(f"{CARD}/mmcblk0p2/stat", self._stat(n_bytes // 1024))

    def set_uptime_s(self, seconds: float) -> None:
        self.write("proc/uptime", f"{seconds:.2f} {seconds * 3:.2f}\n")

    def reboot(self) -> None:
        """A new boot: a new id, the block counters and the uptime from 0."""
        self.boot += 1
        self.write("proc/sys/kernel/random/boot_id", f"boot-{self.boot}\n")
        self.set_card_written(0)
        self.set_uptime_s(3.0)
        self.set_throttled(0)


@contextlib.contextmanager
def served_car(tmp_path: Path):
    """A recording appliance whose health comes from a fake tree (72 °C, under-voltage and
    throttling earlier in this boot, 12 % of a 1 TB card written), its dashboard on a real
    Waitress server; yields (the tree, the base URL, the dashboard)."""
    from hw.health_sysfs import SysfsHealth
    from tests.web_fixtures import dashboard
    from tests.webclient import serve

    card = tmp_path / "card"
    card.mkdir()
    fake = FakeSys(tmp_path / "sysroot", card)
    fake.set_temp_c(72.2)
    fake.set_throttled(0x50000)
    fake.set_card_written(120 * 10**9)
    source = SysfsHealth(str(card), root=str(fake.root))
    with dashboard(
        tmp_path, health_source=source, health_interval_s=0.5, card_endurance_tb=1.0
    ) as d:
        d.appliance.wait_segments(1)
        with serve(d.app) as (host, port):
            yield fake, f"http://{host}:{port}", d
