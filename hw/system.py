"""The system actions the dashboard may ask for: set the clock, power off, reboot.

Commands are run with argument lists, never through a shell, and take no text from the
network: the clock is an integer, the power action one of two fixed words.
"""

from __future__ import annotations

import logging
import subprocess
import time

log = logging.getLogger(__name__)

REBOOT_COMMAND = ("systemctl", "reboot")


def set_system_clock(epoch_s: float) -> None:
    """Set the system clock (needs root or CAP_SYS_TIME).

    Raises:
        OSError: the clock could not be set.
    """
    try:
        time.clock_settime(time.CLOCK_REALTIME, float(epoch_s))
    except PermissionError:
        subprocess.run(["date", "-s", f"@{int(epoch_s)}"], check=True, timeout=10)


def power_action(action: str, power_off_command: tuple[str, ...]) -> None:
    """Power off or reboot the machine.

    Args:
        action: "shutdown" or "restart".
        power_off_command: The configured power-off argument list (``power_off_command``).
    """
    command = list(power_off_command if action == "shutdown" else REBOOT_COMMAND)
    log.info("running %s", command)
    subprocess.run(command, check=False, timeout=60)
