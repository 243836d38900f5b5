"""Power: the power-off action and the power-loss input of a UPS HAT.

Every way to turn the appliance off goes through the controller's shutdown (the open
segment closed and synced, the camera stopped) and then :class:`PowerOff`, which syncs the
file systems once more and runs the configured command. Commands are argument lists run
without a shell; the install's polkit rule lets the service user power off and reboot
(``systemctl poweroff`` / ``reboot`` through logind) and nothing else.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable, Sequence

from appliance.states import Event, PowerRequest
from appliance.worker import Worker, run_once

log = logging.getLogger(__name__)

Run = Callable[..., subprocess.CompletedProcess]

#: Restarting instead of powering off (the dashboard's "restart").
REBOOT_COMMAND = ("systemctl", "reboot")


class PowerOff:
    """The controller's ``power_off`` action: sync, then run the power-off command.

    Args:
        command: Argument list, e.g. ``["systemctl", "poweroff"]``.
        reboot_command: Argument list run instead when the shutdown was asked for as a
            restart (the dashboard's :attr:`PowerRequest.RESTART`).
        run: Runs the command (``subprocess.run``'s interface).
        sync: Flushes the file systems.
        timeout_s: Longest wait for the command.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        reboot_command: Sequence[str] = REBOOT_COMMAND,
        run: Run = subprocess.run,
        sync: Callable[[], None] = os.sync,
        timeout_s: float = 30.0,
    ) -> None:
        for argv in (command, reboot_command):
            if isinstance(argv, str) or not argv or not all(isinstance(a, str) and a for a in argv):
                raise ValueError(f"commands must be non-empty lists of strings, got {argv!r}")
        self.command = list(command)
        self.reboot_command = list(reboot_command)
        self._run = run
        self._sync = sync
        self._timeout_s = timeout_s

    def __call__(self, request: PowerRequest = PowerRequest.SHUTDOWN) -> None:
        self._sync()
        command = self.reboot_command if request is PowerRequest.RESTART else self.command
        log.warning("powering off: %s", " ".join(command))
        try:
            result = self._run(command, check=False, timeout=self._timeout_s)
        except (OSError, subprocess.SubprocessError) as exc:
            log.error("power-off command failed: %s", exc)
            return
        if result.returncode != 0:
            log.error("power-off command exited with %d", result.returncode)


class PowerLossMonitor:
    """Watches a UPS HAT's power-loss output; a loss that lasts ``grace_s`` shuts down.

    The input uses the internal pull-up and is active low by default (the UPS pulls the
    line to GND when external power goes). Power that comes back within the grace time
    cancels: nothing is posted.

    With parking (``parking`` given and true when the power goes), the line is the
    ignition: a loss that lasts ``park_delay_s`` posts :attr:`Event.IGNITION_OFF`
    instead, and power back posts :attr:`Event.IGNITION_ON` at once. ``parking`` is asked
    at each loss, so the live setting is followed.

    Args:
        pin: BCM pin of the power-loss input.
        post: The controller's ``post``; receives :attr:`Event.POWER_LOST`.
        pin_factory: A gpiozero pin factory (see :func:`hw.pins.make_pin_factory`).
        grace_s: How long power must stay lost before the shutdown starts.
        active_low: True: pull-up, lost when low. False: pull-down, lost when high.
        parking: Whether a loss parks rather than shuts down (asked at each loss; the
            config's ``parking`` with ``parking_trigger = "power_loss"``); None: never.
        park_delay_s: How long power must stay lost before parking starts.

    Attributes:
        input: The gpiozero input (active while external power is lost).
        posted: True once :attr:`Event.POWER_LOST` was posted.
        parked: True once a loss posted :attr:`Event.IGNITION_OFF`, until power is back.
    """

    def __init__(
        self,
        pin: int,
        post: Callable[[Event], None],
        *,
        pin_factory,
        grace_s: float = 5.0,
        active_low: bool = True,
        parking: Callable[[], bool] | None = None,
        park_delay_s: float = 10.0,
    ) -> None:
        if grace_s < 0 or park_delay_s < 0:
            raise ValueError(f"delays must be >= 0, got {grace_s!r}, {park_delay_s!r}")
        self._post = post
        self.grace_s = grace_s
        self.park_delay_s = park_delay_s
        self._parking = parking
        self.parked = False
        self._lock = threading.Lock()
        self._restored: threading.Event | None = None
        self._timer: Worker | None = None
        self._closed = threading.Event()
        self.posted = False
        from gpiozero import DigitalInputDevice  # here: PowerOff is made before recording

        self.input = DigitalInputDevice(pin, pull_up=active_low, pin_factory=pin_factory)
        self.input.when_activated = self._lost
        self.input.when_deactivated = self._back
        if self.input.is_active:  # already lost at start-up
            self._lost()

    def close(self) -> None:
        """Stop watching; a pending grace timer is cancelled."""
        self._closed.set()
        with self._lock:
            restored, timer = self._restored, self._timer
        if restored is not None:
            restored.set()
        if timer is not None:
            timer.join()  # at once: the timer wakes on ``restored`` (never from itself)
        self.input.close()

    def _wants_parking(self) -> bool:
        if self._parking is None:
            return False
        try:
            return bool(self._parking())
        except Exception:  # noqa: BLE001 - a loss must still lead somewhere: shut down
            log.exception("power loss: cannot tell whether parking is on; shutting down")
            return False

    def _lost(self) -> None:
        with self._lock:
            if self._restored is not None or self.posted or self.parked or self._closed.is_set():
                return
            park = self._wants_parking()
            restored = self._restored = threading.Event()
            self._timer = run_once(self._grace, "power-loss", args=(restored, park))
        if park:
            log.warning(
                "external power lost; parking in %.1f s unless it returns", self.park_delay_s
            )
        else:
            log.warning(
                "external power lost; shutting down in %.1f s unless it returns", self.grace_s
            )

    def _back(self) -> None:
        with self._lock:
            restored, self._restored = self._restored, None
            was_parked, self.parked = self.parked, False
            if was_parked and not self._closed.is_set():
                self._post(Event.IGNITION_ON)  # under the lock: after its IGNITION_OFF
        if restored is not None and not restored.is_set():
            restored.set()
        if was_parked:
            log.warning("external power back: leaving parking")

    def _grace(self, restored: threading.Event, park: bool) -> None:
        delay_s = self.park_delay_s if park else self.grace_s
        if restored.wait(delay_s):
            if not self._closed.is_set():
                what = "parking" if park else "shutdown"
                log.warning("external power back within %.1f s: %s cancelled", delay_s, what)
            return
        with self._lock:
            if self._restored is not restored or self._closed.is_set():
                return
            if park:
                self._restored = None
                self.parked = True
                self._post(Event.IGNITION_OFF)
                return
            self.posted = True
        self._post(Event.POWER_LOST)
