"""A terminal stand-in for the physical panel in simulation.

Keys (one per line, or single keys on a terminal): ``r`` press record, ``h`` hold record
(safe shutdown), ``p`` photo, ``x`` protect, ``b`` bump the simulated G-sensor, ``s``
status, ``q`` quit. The keys drive the
same mock pins the buttons read, so the appliance cannot tell them from real presses.
The LED is drawn live on the terminal (``●`` lit, ``○`` dark) with its pattern's name.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from appliance.worker import Worker
from hw.panel import NOTICE_PATTERNS, STATE_PATTERNS, Panel, press

HELP = "keys: r record  h hold record (shut down)  p photo  x protect  b bump  s status  q quit"


class Console:
    """Reads keys from standard input and shows the LED and state, each on a worker.

    The key reader blocks in a read of standard input: :meth:`close` stops the LED's
    drawing and leaves the reader to end with the process (a daemon thread).
    """

    def __init__(
        self,
        panel: Panel,
        controller,
        on_quit: Callable[[], None],
        bump: Callable[[], None] | None = None,
    ) -> None:
        self.panel = panel
        self.controller = controller
        self.on_quit = on_quit
        self._bump = bump
        self.tty = sys.stdin.isatty() and sys.stdout.isatty()
        self._stop = threading.Event()
        self._drawer: Worker | None = None

    def start(self) -> None:
        print(HELP, flush=True)
        self.controller.subscribe(self._on_status)
        Worker(self._read_keys, "console").start()
        if self.tty:
            self._drawer = Worker(self._draw_led, "console-led").start()

    def close(self) -> None:
        """Stop drawing the LED; keys read after this are ignored."""
        self._stop.set()
        if self._drawer is not None:
            self._drawer.join(1.0)

    def _on_status(self, status) -> None:
        pattern = STATE_PATTERNS[status.state].name
        line = f"[{status.state.value.upper()}] LED {pattern}"
        if status.notice in NOTICE_PATTERNS:
            line += f" + {NOTICE_PATTERNS[status.notice].name} ({status.notice})"
        if status.segment:
            line += f"  segment {status.segment}"
        if status.last_error:
            line += f"  error: {status.last_error}"
        print(("\r\x1b[K" if self.tty else "") + line, flush=True)

    def _draw_led(self) -> None:
        while not self._stop.wait(0.05):
            lit = self.panel.led.value > 0.05
            sys.stdout.write(f"\r\x1b[K  LED {'●' if lit else '○'}  {self.panel.led_pattern.name}")
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
        if key == "r":
            press(panel.record)
        elif key == "h":
            press(panel.record, hold_s=panel.record.hold_time + 0.3)
        elif key == "p":
            press(panel.photo)
        elif key == "x":
            press(panel.protect)
        elif key == "b" and self._bump is not None:
            self._bump()
        elif key == "s":
            status = self.controller.status
            print(f"\n{status.to_dict()}", flush=True)
        elif key == "q":
            self.on_quit()
            return True
        elif key:
            print(f"\n{HELP}", flush=True)
        return False
