"""systemd's service notifications and watchdog, over ``$NOTIFY_SOCKET`` (stdlib only).

The unit runs with ``Type=notify`` and ``WatchdogSec``: the controller thread calls
:meth:`Watchdog.tick` from its loop, which sends ``WATCHDOG=1`` only while the appliance is
healthy. A hung controller stops ticking; a recorder that stops writing while it should
record, or a camera that no retry brings back, makes :func:`recorder_health` report a
problem, the pings stop, and systemd restarts the service (``Restart=always``). A card
fault never does: the controller probes the card and recovers by itself once it is back.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from appliance.states import State

log = logging.getLogger(__name__)

#: A recording whose written-frame count stands still this long counts as hung.
RECORDER_STALL_S = 20.0

#: A camera that has given no frame this long since it failed needs a new process: the
#: controller re-opens it every 5 s (12 tries by then), and a camera a re-open can bring
#: back comes back at the first or second. With ``WatchdogSec=30`` systemd restarts the
#: service within 90 s of the failure.
CAMERA_DOWN_S = 60.0

Health = Callable[[], str | None]  # None when healthy, else what is wrong


def notify(message: str, socket_path: str | None = None) -> bool:
    """Send one sd_notify message (``READY=1``, ``WATCHDOG=1``, ...).

    Args:
        message: Newline-separated ``KEY=value`` assignments.
        socket_path: The notify socket; default ``$NOTIFY_SOCKET``. A leading ``@`` names
            an abstract socket.

    Returns:
        False when there is no socket (not started by systemd) or the send failed.
    """
    path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", path, exc)
        return False
    return True


def watchdog_interval_s(
    env: Mapping[str, str] | None = None, pid: int | None = None
) -> float | None:
    """Half the watchdog timeout systemd gave this process (``WATCHDOG_USEC``), or None."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    owner = env.get("WATCHDOG_PID")
    if not usec or (owner and int(owner) != (os.getpid() if pid is None else pid)):
        return None
    try:
        return int(usec) / 2 / 1_000_000
    except ValueError:
        return None


class Watchdog:
    """Readiness, status and watchdog pings for systemd.

    Args:
        health: Says what is wrong, or None when healthy; asked before every ping.
        socket_path: The notify socket; default ``$NOTIFY_SOCKET``.
        interval_s: Time between pings; default half of ``$WATCHDOG_USEC``, else 5 s.
        monotonic: Clock for the ping schedule.

    Attributes:
        health: The health check (None: always healthy).
        problem: What the health check last reported (None when healthy).
    """

    def __init__(
        self,
        health: Health | None = None,
        *,
        socket_path: str | None = None,
        interval_s: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health = health
        self._socket_path = socket_path
        self.interval_s = interval_s or watchdog_interval_s() or 5.0
        self._monotonic = monotonic
        self._next_ping = 0.0
        self.problem: str | None = None

    def send(self, message: str) -> bool:
        return notify(message, self._socket_path)

    def ready(self, status: str = "recording from power-on") -> None:
        """Tell systemd the service is up."""
        self.send(f"READY=1\nSTATUS={status}")

    def stopping(self) -> None:
        """Tell systemd the service is stopping on purpose."""
        self.send("STOPPING=1")

    def tick(self) -> None:
        """Ping the watchdog if it is time and the appliance is healthy."""
        now = self._monotonic()
        if now < self._next_ping:
            return
        problem = self.health() if self.health is not None else None
        if problem is not None:
            if self.problem is None:
                log.error("watchdog: %s; no more pings, systemd will restart the service", problem)
                self.send(f"STATUS={problem}")
            self.problem = problem
            return
        self.problem = None
        self._next_ping = now + self.interval_s
        self.send("WATCHDOG=1")


def recorder_health(
    controller,
    stall_s: float = RECORDER_STALL_S,
    monotonic: Callable[[], float] = time.monotonic,
    camera_down_s: float = CAMERA_DOWN_S,
) -> Health:
    """A health check: while recording, the recorder must keep writing frames; a camera
    that failed must deliver again within ``camera_down_s``.

    Only the camera counts, not the state: an ERROR of the card (pulled, read-only) stays
    healthy however long it lasts, since a new process would find the same card.

    Args:
        controller: The appliance's controller (its ``state``, ``camera_down_s`` and
            ``recorder.status``).
        stall_s: How long the written-frame count may stand still while recording.
        monotonic: Clock.
        camera_down_s: How long a failed camera may give no frame.
    """
    last = {"frames": -1, "since": monotonic()}
    ending = (State.SHUTTING_DOWN, State.OFF)

    def check() -> str | None:
        now = monotonic()
        down_s = controller.camera_down_s
        if down_s > camera_down_s and controller.state not in ending:
            return f"camera failed {down_s:.0f} s ago and no retry brought it back"
        frames = controller.recorder.status.frames_written
        if controller.state is not State.RECORDING or frames != last["frames"]:
            last["frames"], last["since"] = frames, now
            return None
        if now - last["since"] > stall_s:
            return f"recorder stalled: no frame written for {now - last['since']:.0f} s"
        return None

    return check
