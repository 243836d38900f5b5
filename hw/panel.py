"""The panel: three buttons and one status LED, the driver's whole interface.

Buttons only post events to the controller. The LED shows one pattern per state (the
table :data:`STATE_PATTERNS`, documented in the README) and flashes briefly for a still or
a protected incident (:data:`NOTICE_PATTERNS`). Everything is built with an injected
gpiozero pin factory: lgpio on the Pi, ``MockFactory(pin_class=MockPWMPin)`` off it.

The buttons are debounced here (:class:`DebouncedButton`, the rule in
:mod:`appliance.debounce`), not by gpiozero's ``bounce_time``: on lgpio that becomes
``lgGpioSetDebounce`` (an edge is reported once the level has been stable that long, on
both edges: the same rule, in lgpio's alert thread), but gpiozero's mock pins ignore it,
and RPi.GPIO and gpiozero's native pins read it as "ignore edges for that long after
one", which takes a glitch during a hold for a release. Ours works the same on every pin
factory, so the tests run the real rule on mock pins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gpiozero import PWMLED, DigitalInputDevice

from appliance.config import Config, check_value
from appliance.controller import Status
from appliance.debounce import Change, Debouncer
from appliance.states import Event, State
from appliance.wiring import Button
from appliance.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pattern:
    """An LED pattern: steps of (brightness 0..1, seconds), repeated or played once."""

    name: str
    steps: tuple[tuple[float, float], ...]
    repeat: bool = True


def _blinks(n: int, on_s: float, off_s: float) -> tuple[tuple[float, float], ...]:
    return ((1.0, on_s), (0.0, off_s)) * n


#: One pattern per state. Keep the README's LED table in step with this one.
STATE_PATTERNS: dict[State, Pattern] = {
    State.STARTING: Pattern("fast blink", _blinks(1, 0.1, 0.1)),
    State.IDLE: Pattern("heartbeat", ((1.0, 0.1), (0.0, 0.15), (1.0, 0.1), (0.0, 1.65))),
    State.RECORDING: Pattern("solid", ((1.0, 1.0),)),
    State.STORAGE_FULL: Pattern("slow blink", _blinks(1, 0.5, 0.5)),
    State.ERROR: Pattern("triple blink", _blinks(3, 0.15, 0.15) + ((0.0, 0.9),)),
    State.PARKED: Pattern("parked blip", ((0.3, 0.05), (0.0, 2.95))),
    State.PARKED_EVENT: Pattern("parking clip", ((1.0, 0.5), (0.3, 0.5))),
    State.SHUTTING_DOWN: Pattern("dim", ((0.2, 1.0),)),
    State.OFF: Pattern("off", ((0.0, 1.0),)),
}

#: Brief flashes over the state's pattern, then back to it.
NOTICE_PATTERNS: dict[str, Pattern] = {
    "photo": Pattern("double flash", ((0.0, 0.1), (1.0, 0.1), (0.0, 0.1), (1.0, 0.1)), False),
    "protect": Pattern("5 fast blinks", ((0.0, 0.08), (1.0, 0.08)) * 5, False),
}


#: How long :func:`press` waits for a button to take a press or a release.
PRESS_TIMEOUT_S = 5.0


def press(button: DebouncedButton, hold_s: float = 0.0) -> None:
    """Press a button on mock pins as a finger would (pull-up: low is pressed).

    The pin stays low until the button has taken the press (``debounce_s``) and then for
    ``hold_s`` more, then high until the button has taken the release. A shorter press
    would be taken for contact bounce and lost, and a press before the last release was
    taken would be part of it: so every simulated press counts once, and a hold of
    ``hold_time_s`` has ``debounce_s`` to spare. Each wait gives up after
    :data:`PRESS_TIMEOUT_S`.
    """
    pin = button.pin
    pin.drive_low()
    button.wait_for_press(PRESS_TIMEOUT_S)
    if hold_s > 0:
        threading.Event().wait(hold_s)
    pin.drive_high()
    button.wait_for_release(PRESS_TIMEOUT_S)


class DebouncedButton:
    """A push button from a pin to ground (pull-up), debounced in software on both edges.

    A press counts once the pin has been low for ``debounce_s``, a release once it has
    been high for ``debounce_s`` (:class:`appliance.debounce.Debouncer`); a hold once the
    button has been down ``hold_time_s`` from the first edge of the press. The callbacks
    (``when_pressed``, ``when_released``, ``when_held``, gpiozero's names) run on the
    button's own thread, one at a time and in order; one that raises is logged and the
    button goes on.

    Args:
        pin: The BCM pin.
        pin_factory: A gpiozero pin factory.
        debounce_s: How long a level must be stable to count.
        hold_time_s: How long a press lasts before it is a hold; None: no holds.
        name: The button's name (its thread's name, the logs).
        monotonic: The clock the edges and deadlines are read from (seconds; the waits
            are real time, so it must advance with it).
    """

    #: The shortest wait between two looks at the edges (a guard against a spinning thread).
    MIN_WAIT_S = 0.001

    def __init__(
        self,
        pin: int,
        *,
        pin_factory,
        debounce_s: float,
        hold_time_s: float | None = None,
        name: str = "button",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.debounce_s = debounce_s
        self.hold_time = hold_time_s
        self.when_pressed: Callable[[], None] | None = None
        self.when_released: Callable[[], None] | None = None
        self.when_held: Callable[[], None] | None = None
        self._monotonic = monotonic
        self._device = DigitalInputDevice(
            pin, pull_up=True, bounce_time=None, pin_factory=pin_factory
        )
        self.pin = self._device.pin
        self._edges = threading.Condition()
        self._logic = Debouncer(debounce_s, hold_time_s, pressed=bool(self._device.is_active))
        # What the callbacks have been told: read by is_pressed and the waits.
        self._state = threading.Condition()
        self._pressed = self._logic.pressed
        self._held = False
        self._closed = False
        self._worker = Worker(self._run, f"button-{name}")
        self._device.when_activated = self._went_down
        self._device.when_deactivated = self._went_up
        self._worker.start()

    @property
    def is_pressed(self) -> bool:
        """True while the button counts as pressed (debounced)."""
        return self._pressed

    @property
    def is_held(self) -> bool:
        """True while the button counts as held (pressed for ``hold_time`` or more)."""
        return self._held

    @property
    def alive(self) -> bool:
        """True while the button's thread runs."""
        return self._worker.alive

    def wait_for_press(self, timeout_s: float | None = None) -> bool:
        """Wait until the button counts as pressed; False on timeout or when closed."""
        return self._wait_for(True, timeout_s)

    def wait_for_release(self, timeout_s: float | None = None) -> bool:
        """Wait until the button counts as released; False on timeout or when closed."""
        return self._wait_for(False, timeout_s)

    def close(self) -> None:
        """Stop the thread and free the pin."""
        with self._state:
            self._closed = True
            self._state.notify_all()
        self._worker.stopping.set()
        with self._edges:
            self._edges.notify_all()
        self._worker.join(2.0)
        self._device.close()

    def _wait_for(self, pressed: bool, timeout_s: float | None) -> bool:
        with self._state:
            self._state.wait_for(lambda: self._closed or self._pressed is pressed, timeout_s)
            return not self._closed and self._pressed is pressed

    def _went_down(self) -> None:
        self._edge(True)

    def _went_up(self) -> None:
        self._edge(False)

    def _edge(self, pressed: bool) -> None:
        # On the pin factory's thread (lgpio's alert thread; the caller's for mock pins).
        with self._edges:
            self._logic.edge(pressed, self._monotonic())
            self._edges.notify()

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            with self._edges:
                now_s = self._monotonic()
                changes = self._logic.advance(now_s)
                if not changes:
                    deadline_s = self._logic.deadline()
                    timeout_s = None
                    if deadline_s is not None:
                        timeout_s = max(deadline_s - now_s, self.MIN_WAIT_S)
                    self._edges.wait(timeout_s)
                    continue
            for change in changes:
                self._tell(change)

    def _tell(self, change: Change) -> None:
        callback = {
            Change.PRESSED: self.when_pressed,
            Change.RELEASED: self.when_released,
            Change.HELD: self.when_held,
        }[change]
        if callback is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one bad callback must not stop the button
                log.exception("button %s: the %s callback failed", self.name, change.value)
        with self._state:
            if change is Change.HELD:
                self._held = True
            else:
                self._pressed = change is Change.PRESSED
                self._held = False
            self._state.notify_all()


class LedDriver:
    """Plays patterns on a PWMLED from its own worker; a change interrupts the step.

    The worker outlives any failure of a step (logged, then the pattern goes on), and a
    brightness the config's ``led_brightness`` would refuse is refused before it reaches it
    (:func:`appliance.config.check_value`: the one check of that value).

    Patterns are played by waits on an event rather than as gpiozero ``source`` values: a
    source is polled every ``source_delay`` (a write per 10 ms for a steady light, where
    this writes once), a change would wait for the next poll instead of interrupting the
    step, and gpiozero's source thread ends at the first failing write.
    """

    #: Seconds the thread waits after a failed step before it tries again.
    RETRY_S = 1.0

    def __init__(self, led: PWMLED, brightness: float = 1.0) -> None:
        self.led = led
        self._brightness = check_value("led_brightness", brightness)
        self._failing = False
        self._base = STATE_PATTERNS[State.STARTING]
        self._overlay: Pattern | None = None
        self._wake = threading.Event()
        self._worker = Worker(self._run, "led")
        self._worker.start()

    @property
    def pattern(self) -> Pattern:
        return self._overlay or self._base

    @property
    def brightness(self) -> float:
        """The LED's brightness, 0..1, that scales every pattern."""
        return self._brightness

    @brightness.setter
    def brightness(self, value: float) -> None:
        """Take a new brightness at once.

        Raises:
            ConfigError: not a brightness the config allows (a ``ValueError``); the last
                good one stays.
        """
        self._brightness = check_value("led_brightness", value)
        self._wake.set()

    @property
    def alive(self) -> bool:
        """True while the LED's worker runs."""
        return self._worker.alive

    def show(self, pattern: Pattern) -> None:
        if pattern is not self._base:
            self._base = pattern
            self._wake.set()

    def flash(self, pattern: Pattern) -> None:
        self._overlay = pattern
        self._wake.set()

    def close(self) -> None:
        self._worker.stopping.set()
        self._wake.set()
        self._worker.join(2.0)

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            try:
                self._play_once()
            except Exception:  # noqa: BLE001 - the LED thread must survive a failed step
                if not self._failing:  # once per run of failures, not every second
                    log.exception("the LED failed; trying again every %.0f s", self.RETRY_S)
                self._failing = True
                self._wake.wait(self.RETRY_S)
        try:
            self.led.value = 0
        except Exception:  # noqa: BLE001 - closing: nothing more to show
            log.warning("the LED could not be switched off", exc_info=True)

    def _play_once(self) -> None:
        self._wake.clear()
        overlay = self._overlay
        pattern = overlay or self._base
        interrupted = False
        for level, seconds in pattern.steps:
            self.led.value = level * self._brightness
            if self._failing:
                log.info("the LED works again")
                self._failing = False
            if self._wake.wait(seconds):
                interrupted = True
                break
        if overlay is not None and not interrupted and self._overlay is overlay:
            self._overlay = None
        if not interrupted and pattern.repeat and len(pattern.steps) == 1:
            self._wake.wait()  # a steady light: nothing to do until the next change


class Panel:
    """Buttons and LED wired to the controller.

    * record: a short press toggles recording (it starts on the press; it stops on the
      release, so that holding for ``hold_time_s`` shuts down instead of stopping first);
    * record held ``hold_time_s``: safe shutdown;
    * photo: a still; protect: protect the incident.

    Every button is debounced on both edges (:class:`DebouncedButton`): a press counts
    once the contact has been closed for ``debounce_s``, a release once it has been open
    for ``debounce_s``; so a bouncing contact toggles once, and a bounce at the start or
    during a hold neither restarts nor ends it.

    Args:
        config: Pins, hold time, debounce, LED brightness.
        post: The controller's ``post``.
        pin_factory: A gpiozero pin factory (see :func:`hw.pins.make_pin_factory`).
        monotonic: Clock for the debounce (advancing with real time).
    """

    def __init__(
        self,
        config: Config,
        post: Callable[[Event], None],
        *,
        pin_factory,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self.debounce_s = config.debounce_s
        self._state = State.STARTING
        self._record_down = False
        self._record_held = False
        self._record_started = False
        kw = {"pin_factory": pin_factory, "debounce_s": config.debounce_s, "monotonic": monotonic}
        self.record = DebouncedButton(
            config.record_pin, hold_time_s=config.hold_time_s, name=Button.RECORD.value, **kw
        )
        self.photo = DebouncedButton(config.photo_pin, name=Button.PHOTO.value, **kw)
        self.protect = DebouncedButton(config.protect_pin, name=Button.PROTECT.value, **kw)
        self.led = PWMLED(config.led_pin, pin_factory=pin_factory)
        self.led_driver = LedDriver(self.led, config.led_brightness)
        self.record.when_pressed = self._record_pressed
        self.record.when_released = self._record_released
        self.record.when_held = self._record_was_held
        self.photo.when_pressed = lambda: self._post(Event.PHOTO_PRESSED)
        self.protect.when_pressed = lambda: self._post(Event.PROTECT_PRESSED)

    @property
    def led_pattern(self) -> Pattern:
        return self.led_driver.pattern

    def show(self, status: Status) -> None:
        """Status subscriber: the LED follows the state and flashes for notices."""
        self._state = status.state
        self.led_driver.show(STATE_PATTERNS[status.state])
        if status.notice in NOTICE_PATTERNS:
            self.led_driver.flash(NOTICE_PATTERNS[status.notice])

    def set_brightness(self, brightness: float) -> None:
        """Set the LED's brightness (0.05 to 1, as the config allows) at once.

        Raises:
            ConfigError: not a brightness the config allows (a ``ValueError``); nothing
                changes.
        """
        self.led_driver.brightness = brightness

    def follow_settings(self, config) -> None:
        """The live settings changed: the LED takes ``led_brightness`` (a follower of
        :class:`appliance.live_settings.LiveSettings`).

        Raises:
            ConfigError: not a brightness the config allows; nothing changes.
        """
        self.set_brightness(config.led_brightness)

    def close(self) -> None:
        self.led_driver.close()
        for device in (self.record, self.photo, self.protect, self.led):
            device.close()

    def _record_pressed(self) -> None:
        if self._record_down:
            return
        self._record_down = True
        self._record_held = False
        # Starting never waits for the release: not one second of footage is missed.
        self._record_started = self._state in (State.IDLE, State.PARKED, State.PARKED_EVENT)
        if self._record_started:
            self._post(Event.RECORD_PRESSED)

    def _record_was_held(self) -> None:
        if self._record_down and not self._record_held:
            self._record_held = True
            self._post(Event.RECORD_HELD)

    def _record_released(self) -> None:
        if not self._record_down:
            return
        self._record_down = False
        if not self._record_held and not self._record_started:
            self._post(Event.RECORD_PRESSED)


class VirtualPanel:
    """The panel as the dashboard's simulation shows it: presses drive the same mock pins.

    Args:
        panel: A :class:`Panel` built on gpiozero's mock pin factory.
        bump: Knocks the simulated G-sensor; None without one.
    """

    def __init__(self, panel: Panel, bump: Callable[[], None] | None = None) -> None:
        self.panel = panel
        self._bump = bump

    @property
    def can_bump(self) -> bool:
        """True if a simulated G-sensor takes a :meth:`bump`."""
        return self._bump is not None

    def bump(self) -> None:
        """Knock the simulated G-sensor (a low-speed bump: an impact).

        Raises:
            LookupError: no simulated G-sensor.
        """
        if self._bump is None:
            raise LookupError("no simulated G-sensor")
        self._bump()

    def press(self, name: str, hold_s: float = 0.0) -> None:
        """Press button ``name`` (drive its pin low, hold, release).

        Raises:
            KeyError: no such button.
        """
        try:
            button = Button(name)
        except ValueError:
            raise KeyError(name) from None
        press(getattr(self.panel, button.value), hold_s)

    @property
    def led_value(self) -> float:
        """The LED's brightness now, 0..1."""
        return float(self.panel.led.value)

    @property
    def led_pattern(self) -> str:
        """The name of the pattern the LED plays."""
        return self.panel.led_pattern.name
