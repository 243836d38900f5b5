"""A terminal stand-in for the physical panel in simulation.

Keys (one per line, or single keys on a terminal): ``r`` press record, ``h`` hold record
(safe shutdown, with a countdown; any key during the hold releases it), ``p`` photo,
``x`` protect, ``b`` bump the simulated G-sensor, ``i`` turn the ignition off or on (the
ignition's mock pin, or the UPS's power-loss pin with ``parking_trigger = "power_loss"``),
``v`` lower the simulated battery's voltage by :data:`BATTERY_STEP_V`, ``s`` status in one
line, ``?`` help, ``q`` quit. The keys drive the same mock pins the buttons read (and the
simulated battery board the real driver reads), so the appliance cannot tell them from
real presses. The LED is drawn live on the terminal (``●`` lit, ``○`` dark) with its
pattern's name.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.states import State
from appliance.worker import Worker, run_once
from hw.panel import NOTICE_PATTERNS, STATE_PATTERNS, Panel, press

#: The state as the status line starts.
STATE_LABELS = {
    State.STARTING: "STARTING",
    State.IDLE: "IDLE",
    State.RECORDING: "REC",
    State.STORAGE_FULL: "CARD FULL",
    State.PARKED: "PARKED",
    State.PARKED_EVENT: "PARKED REC",
    State.ERROR: "ERROR",
    State.SHUTTING_DOWN: "SHUTTING DOWN",
    State.OFF: "OFF",
}
#: How much ``v`` lowers the simulated battery's voltage.
BATTERY_STEP_V = 0.5
#: Longest wait past the hold time for the panel to take the press as a hold.
HOLD_MARGIN_S = 1.0


def keys_help(
    hold_s: float, bump: bool, ignition: bool = False, battery: bool = False
) -> list[tuple[str, str]]:
    """(key, what it does) for each key the console reads; ``b`` only with a G-sensor,
    ``i`` with an ignition (or parking power-loss) input, ``v`` with a simulated battery."""
    keys = [
        ("r", "record button: start or stop recording"),
        ("h", f"hold record {hold_s:g} s: safe shutdown (any key during the hold releases)"),
        ("p", "photo button: a still"),
        ("x", "protect button: keep this incident (previous, current and next clip)"),
        ("b", "bump: knock the simulated G-sensor (an impact protects the incident)"),
        ("i", "ignition: turn it off (parking after ignition_off_delay_s) or on again"),
        ("v", f"battery: lower the simulated battery by {BATTERY_STEP_V:g} V"),
        ("s", "status in one line"),
        ("?", "this help"),
        ("q", "quit: close the clip and stop"),
    ]
    present = {"b": bump, "i": ignition, "v": battery}
    return [(key, text) for key, text in keys if present.get(key, True)]


def _clock(seconds: float) -> str:
    whole = int(max(0.0, seconds))
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _size(n_bytes: int) -> str:
    if n_bytes >= 10**9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes >= 10**6 else f"{n_bytes / 1e3:.0f} kB"


def status_line(
    status, now_wall: float, led: str | None = None, battery_v: float | None = None
) -> str:
    """The status snapshot as one line: state and for how long, clip, card, GPS, parking,
    battery, LED.

    Fields that do not apply are left out (no clip when nothing records, no GPS without a
    receiver, no battery without a monitor); ``status.gps`` and ``status.parking`` are read
    if the snapshot has them.
    """
    parts = [
        f"{STATE_LABELS.get(status.state, status.state.value)} "
        f"{_clock(now_wall - status.since_wall)}"
    ]
    if status.segment is not None and status.segment_elapsed_s is not None:
        elapsed = int(max(0.0, status.segment_elapsed_s))
        parts.append(f"clip {elapsed // 60}:{elapsed % 60:02d}")
    card = status.storage
    if card.total:
        photos = status.counts.get("photo", 0)
        parts.append(
            f"card {_size(card.free)} free (loop {_size(card.loop)}, protected "
            f"{_size(card.protected)}, {photos} photo{'' if photos == 1 else 's'})"
        )
    else:
        parts.append("no card")
    gps = getattr(status, "gps", None)
    if gps:
        parts.append(f"GPS {gps.get('speed_text') or 'fix'}" if gps.get("fix") else "GPS no fix")
    parking = getattr(status, "parking", None)
    if parking and parking.get("parked"):
        events = parking.get("events", 0)
        parts.append(f"{events} event{'' if events == 1 else 's'} while parked")
    if battery_v is not None:
        parts.append(f"battery {battery_v:.1f} V")
    if status.frames_dropped:
        parts.append(f"{status.frames_dropped} frames dropped")
    if led:
        parts.append(f"LED {led}")
    if status.last_error:
        parts.append(f"error: {status.last_error}")
    return " · ".join(parts)


class Console:
    """Reads keys from standard input and shows the LED and state, each on a worker.

    The key reader blocks in a read of standard input: :meth:`close` stops the LED's
    drawing and leaves the reader to end with the process (a daemon thread).

    Args:
        panel: The panel on mock pins (keys press its buttons).
        controller: The controller (status lines).
        on_quit: Called for ``q``.
        bump: Knocks the simulated G-sensor; None without one (no ``b`` key).
        ignition: (the gpiozero input that says the car is parked, whether it is active
            while the ignition is on); None without one (no ``i`` key).
        battery: (the simulated battery board, the watch that reads it); None without one
            (no ``v`` key).
        wall: The wall clock (for how long the state has lasted).
        monotonic: The clock the hold's countdown follows.
    """

    def __init__(
        self,
        panel: Panel,
        controller,
        on_quit: Callable[[], None],
        bump: Callable[[], None] | None = None,
        ignition: tuple[Any, bool] | None = None,
        battery: tuple[Any, Any] | None = None,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.panel = panel
        self.controller = controller
        self.on_quit = on_quit
        self._bump = bump
        self._ignition = ignition
        self._battery = battery
        self._wall = wall
        self._monotonic = monotonic
        self.tty = sys.stdin.isatty() and sys.stdout.isatty()
        self._stop = threading.Event()
        self._drawer: Worker | None = None
        self._release: threading.Event | None = None  # set: the held record button goes up
        self._holder: Worker | None = None
        self._last_line = ""  # the last state line shown (a refresh that changes none: none)
        self._out = threading.Lock()  # one line at a time: the LED's redraw never cuts one
        self.keys = keys_help(
            panel.record.hold_time, bump is not None, ignition is not None, battery is not None
        )

    def start(self) -> None:
        self._say("keys: " + "  ".join(f"{k} {t.split(':')[0]}" for k, t in self.keys))
        self.controller.subscribe(self._on_status)
        Worker(self._read_keys, "console").start()
        if self.tty:
            self._drawer = Worker(self._draw_led, "console-led").start()

    def close(self) -> None:
        """Stop drawing the LED and release a held button; keys read after this are ignored."""
        self._stop.set()
        if self._release is not None:
            self._release.set()
        for worker in (self._holder, self._drawer):  # done with the pins before they close
            if worker is not None:
                worker.join(1.0)

    def _say(self, line: str) -> None:
        with self._out:
            sys.stdout.write(("\r\x1b[K" if self.tty else "") + line + "\n")
            sys.stdout.flush()

    def _on_status(self, status) -> None:
        pattern = STATE_PATTERNS[status.state].name
        line = f"[{status.state.value.upper()}] LED {pattern}"
        if status.notice in NOTICE_PATTERNS:
            line += f" + {NOTICE_PATTERNS[status.notice].name} ({status.notice})"
        if status.segment:
            line += f"  segment {status.segment}"
        if status.last_error:
            line += f"  error: {status.last_error}"
        if line != self._last_line or status.notice is not None:  # every photo, not every refresh
            self._last_line = line
            self._say(line)

    def _draw_led(self) -> None:
        while not self._stop.wait(0.05):
            lit = self.panel.led.value > 0.05
            with self._out:
                sys.stdout.write(
                    f"\r\x1b[K  LED {'●' if lit else '○'}  {self.panel.led_pattern.name}"
                )
                sys.stdout.flush()

    def _read_keys(self) -> None:
        if self.tty:
            import termios
            import tty

            fd = sys.stdin.fileno()
            saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
            try:
                while not self._stop.is_set():
                    key = sys.stdin.read(1)
                    if not key or self._key(key):
                        break
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        else:
            for line in sys.stdin:
                if self._key(line.strip()[:1]):
                    break
        self._stop.set()

    def _key(self, key: str) -> bool:
        panel = self.panel
        if self._stop.is_set():
            return True
        release = self._release
        if release is not None and not release.is_set():
            release.set()  # any key (Enter too) lets go of the held record button
            return False
        if key == "r":
            press(panel.record)
        elif key == "h":
            self._release = threading.Event()
            self._holder = run_once(self._hold, "console-hold", args=(self._release,))
        elif key == "p":
            press(panel.photo)
        elif key == "x":
            press(panel.protect)
        elif key == "b" and self._bump is not None:
            self._bump()
        elif key == "i" and self._ignition is not None:
            self._turn_ignition()
        elif key == "v" and self._battery is not None:
            chip, _ = self._battery
            chip.voltage_v = round(chip.voltage_v - BATTERY_STEP_V, 3)
            self._say(f"battery {chip.voltage_v:.1f} V")
        elif key == "s":
            pattern = panel.led_pattern.name
            battery_v = self._battery[1].voltage_v if self._battery is not None else None
            self._say(status_line(self.controller.status, self._wall(), pattern, battery_v))
        elif key == "q":
            self.on_quit()
            return True
        elif key:
            self._say("\n".join(f"  {k}  {text}" for k, text in self.keys))
        return False

    def _turn_ignition(self) -> None:
        """Drive the parking line's mock pin to the other side: the ignition off or on."""
        device, on_when_active = self._ignition
        turning_on = bool(device.is_active) != on_when_active  # off now
        active = turning_on == on_when_active
        active_low = device.pull_up  # pulled up: active when low
        (device.pin.drive_low if active == active_low else device.pin.drive_high)()
        self._say(f"ignition {'on' if turning_on else 'off'}")

    def _hold(self, release: threading.Event) -> None:
        """Hold the record button down with a countdown, until the panel takes it as a hold
        (safe shutdown) or ``release`` is set (cancelled: a short press)."""
        button = self.panel.record
        hold_s = button.hold_time
        start = self._monotonic()
        held = False
        button.pin.drive_low()
        try:
            for left in range(math.ceil(hold_s), 0, -1):
                self._say(
                    f"hold {left}…" + (" (any key releases)" if left == math.ceil(hold_s) else "")
                )
                if release.wait(max(0.0, start + hold_s - (left - 1) - self._monotonic())):
                    break
            deadline = start + hold_s + HOLD_MARGIN_S
            while not release.is_set() and not button.is_held:
                if self._monotonic() >= deadline or release.wait(0.02):
                    break
            held = button.is_held
        finally:
            if not held:
                # Let go once the press has counted (debounce_s): a shorter one would be
                # taken for contact bounce, and the key would do nothing.
                button.wait_for_press(HOLD_MARGIN_S)
                button.pin.drive_high()
        elapsed_s = self._monotonic() - start
        if held:
            self._say(f"held {elapsed_s:.1f} s: shutting down (the clip is closed first)")
            release.wait(0.3)  # let go as a driver would, after the LED dims
            button.pin.drive_high()
        else:
            self._say(
                f"released after {elapsed_s:.1f} s: shutdown cancelled (a short press of record)"
            )
        release.set()  # the hold is over: the next key is a key again
