"""What says the car is parked: the ignition-sense input.

An optocoupler from the ignition-switched 12 V pulls a GPIO low while the ignition is on (a
divider with a zener holds it high instead: ``active_low=False``). :class:`IgnitionMonitor`
posts :attr:`Event.IGNITION_OFF` once the ignition has stayed off for ``off_delay_s`` (a
crank dip or a short stop does not park) and :attr:`Event.IGNITION_ON` at once when it comes
back. The state at start-up is posted too (off: after the same delay). The controller
decides what the events mean (parking off: IGNITION_OFF is ignored); this module only
translates the line.

A UPS HAT's power-loss line says the same with ``parking_trigger = "power_loss"``: that is
:class:`hw.power.PowerLossMonitor`'s parking mode (it still shuts down with parking off).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from appliance.states import Event
from appliance.worker import Worker, run_once

log = logging.getLogger(__name__)


class IgnitionMonitor:
    """Watches a line that says whether the ignition is on; posts IGNITION_OFF/ON.

    Args:
        pin: BCM pin of the input.
        post: The controller's ``post``; receives :attr:`Event.IGNITION_OFF` and
            :attr:`Event.IGNITION_ON`.
        pin_factory: A gpiozero pin factory (see :func:`hw.pins.make_pin_factory`).
        off_delay_s: How long the ignition must stay off before IGNITION_OFF is posted.
        active_low: True: internal pull-up, the ignition is on while the line is pulled to
            GND (an optocoupler). False: pull-down, on while it is high (a divider).
        name: What the line is called in the log.

    Attributes:
        input: The gpiozero input (active while the ignition is on).
        parked: True once IGNITION_OFF was posted and until IGNITION_ON is.
    """

    def __init__(
        self,
        pin: int,
        post: Callable[[Event], None],
        *,
        pin_factory,
        off_delay_s: float = 10.0,
        active_low: bool = True,
        name: str = "ignition",
    ) -> None:
        if off_delay_s < 0:
            raise ValueError(f"off_delay_s must be >= 0, got {off_delay_s!r}")
        self._post = post
        self.off_delay_s = off_delay_s
        self.name = name
        self._lock = threading.Lock()
        self._back: threading.Event | None = None  # set: the pending off is cancelled
        self._timer: Worker | None = None
        self._closed = threading.Event()
        self.parked = False
        from gpiozero import DigitalInputDevice

        self.input = DigitalInputDevice(pin, pull_up=active_low, pin_factory=pin_factory)
        self.input.when_activated = self._on
        self.input.when_deactivated = self._off
        if self.is_on:
            log.info("%s on at start-up", name)
            self._post(Event.IGNITION_ON)
        else:
            self._off()

    @property
    def is_on(self) -> bool:
        """Whether the line says the ignition is on now."""
        return bool(self.input.is_active)

    def close(self) -> None:
        """Stop watching; a pending off delay is cancelled (nothing is posted after)."""
        self._closed.set()
        with self._lock:
            back, timer = self._back, self._timer
        if back is not None:
            back.set()
        if timer is not None:
            timer.join()  # at once: the timer wakes on ``back`` (never from itself)
        self.input.close()

    def _off(self) -> None:
        with self._lock:
            if self._back is not None or self.parked or self._closed.is_set():
                return
            back = self._back = threading.Event()
            self._timer = run_once(self._delay, f"{self.name}-off", args=(back,))
        log.info("%s off; parking in %.1f s unless it comes back", self.name, self.off_delay_s)

    def _on(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            back, self._back = self._back, None
            was_parked, self.parked = self.parked, False
            if was_parked:  # under the lock: never before the IGNITION_OFF it follows
                self._post(Event.IGNITION_ON)
        if back is not None and not back.is_set():
            back.set()
            log.info("%s back within %.1f s: not parking", self.name, self.off_delay_s)
        if was_parked:
            log.info("%s on: leaving parking", self.name)

    def _delay(self, back: threading.Event) -> None:
        if back.wait(self.off_delay_s):
            return
        with self._lock:
            if self._back is not back or self._closed.is_set():
                return
            self._back = None
            self.parked = True
            self._post(Event.IGNITION_OFF)  # under the lock: ordered with IGNITION_ON
        log.info("%s off for %.1f s: parked", self.name, self.off_delay_s)
