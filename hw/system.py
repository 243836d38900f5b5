"""Setting the system clock from the dashboard (power-off and reboot live in ``hw.power``).

A command is run with an argument list, never through a shell, and takes no text from
the network: only an integer of seconds.
"""

from __future__ import annotations

import logging
import subprocess
import time

log = logging.getLogger(__name__)


def set_system_clock(epoch_s: float) -> None:
    """Set the system clock (needs root or CAP_SYS_TIME).

    Raises:
        OSError: the clock could not be set.
    """
    try:
        time.clock_settime(time.CLOCK_REALTIME, float(epoch_s))
    except PermissionError:
        subprocess.run(["date", "-s", f"@{int(epoch_s)}"], check=True, timeout=10)
