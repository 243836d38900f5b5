"""The one place that chooses gpiozero's pin factory, and the GPIO chip it opens.

On the Pi the pins are lgpio's, opened on the chip that drives the 40-pin header. Which
``/dev/gpiochipN`` that is depends on the board and the kernel: a Pi 5's RP1
(``pinctrl-rp1``) was gpiochip4 and is gpiochip0 from kernel 6.6.45 on; earlier Pis'
(``pinctrl-bcm2835``, ``pinctrl-bcm2711``) are gpiochip0. gpiozero 2.0 and 2.0.1 choose
gpiochip4 on any Pi 5 and ignore a ``chip=`` argument (gpiozero issues #1162 and #1166;
2.0.1.post1 takes ``chip=`` and falls back to gpiochip0 when gpiochip4 is missing), and
Raspberry Pi OS ships 2.0.1. So the chip is found here by its label in sysfs.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The labels of the chip that drives the 40-pin header, preferred first: the Pi 5's RP1,
#: the Pi 4's BCM2711, the BCM2835 family's (Zero, Zero 2, 1-3).
HEADER_CHIP_LABELS = ("pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835")

_CHIP_NAME = re.compile(r"gpiochip(\d+)")


@dataclass(frozen=True, slots=True)
class GpioChip:
    """A GPIO chip as lgpio opens it.

    Attributes:
        number: N of ``/dev/gpiochipN`` (what ``LGPIOFactory(chip=N)`` opens).
        label: Its driver's label (``pinctrl-rp1``), as ``gpiodetect`` shows it.
    """

    number: int
    label: str


def _read_label(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    except OSError:
        return None


def _chip_label(device: Path, number: int) -> str | None:
    """The label of the chip whose character device is gpiochip``number``.

    ``device`` is ``bus/gpio/devices/gpiochipN`` (a link to the chip under its parent
    device). The label is not there but on the chip's entries in the ``gpio`` class,
    which sit in a ``gpio`` folder beside it, under the same parent: ``chipN`` (kernels
    6.17 and later, named by the same N) and the legacy ``gpiochipB``, named by the
    chip's first legacy GPIO number B (512, 571...), not by N: so a legacy entry is only
    taken when it is the parent's one chip.
    """
    own = _read_label(device / "label")
    if own is not None:
        return own
    try:
        real = device.resolve(strict=True)
    except OSError:
        return None
    for parent in (real.parent, real):  # a chip without a parent device holds its own
        label = _read_label(parent / "gpio" / f"chip{number}" / "label")
        if label is not None:
            return label
    try:
        siblings = [p for p in real.parent.iterdir() if _CHIP_NAME.fullmatch(p.name)]
    except OSError:
        return None
    for parent in (real.parent, real):
        legacy = sorted((parent / "gpio").glob("gpiochip*/label"))
        if len(legacy) == 1 and (parent is real or len(siblings) == 1):
            return _read_label(legacy[0])
    return None


def gpio_chips(sysfs_root: str | os.PathLike = "/sys") -> list[GpioChip]:
    """The GPIO chips the kernel has, with their labels where sysfs tells them.

    Args:
        sysfs_root: Where sysfs is mounted (tests pass a tree of their own).

    Returns:
        The chips in order of N; a chip whose label cannot be read has the label "".
    """
    found = []
    for device in Path(sysfs_root, "bus", "gpio", "devices").glob("gpiochip*"):
        match = _CHIP_NAME.fullmatch(device.name)
        if match is None:
            continue
        number = int(match.group(1))
        found.append(GpioChip(number, _chip_label(device, number) or ""))
    return sorted(found, key=lambda chip: chip.number)


def header_chip(sysfs_root: str | os.PathLike = "/sys") -> GpioChip | None:
    """The chip that drives the 40-pin header (see :data:`HEADER_CHIP_LABELS`), or None.

    Args:
        sysfs_root: Where sysfs is mounted (tests pass a tree of their own).
    """
    chips = gpio_chips(sysfs_root)
    for label in HEADER_CHIP_LABELS:
        for chip in chips:
            if chip.label == label:
                return chip
    return None


def describe_pin_factory(factory: Any, sysfs_root: str | os.PathLike = "/sys") -> str:
    """The pin factory's name, and the chip it opened if it has one: what ``dashcam doctor``
    shows (``LGPIOFactory on gpiochip0 [pinctrl-rp1]``, as ``gpiodetect`` writes a chip)."""
    name = type(factory).__name__
    number = getattr(factory, "chip", None)
    if not isinstance(number, int) or isinstance(number, bool):
        return name
    label = next((c.label for c in gpio_chips(sysfs_root) if c.number == number), "")
    return f"{name} on gpiochip{number}" + (f" [{label}]" if label else "")


def ensure_lgpio_workdir(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Give lgpio a writable ``LG_WD`` when it would otherwise fail; call before its import.

    lgpio makes its notification pipe (``.lgd-nfyN``) in ``$LG_WD``, else in the current
    directory, when it is imported; an unwritable one (``/`` for a service without a
    working directory, an ``LG_WD`` removed or read-only) makes the import fail, and the
    service would fail at every start. The unit sets a good ``LG_WD``; this covers the rest.

    Args:
        environ: The environment lgpio will read (the process's own).

    Returns:
        The private directory chosen, or None when lgpio's own choice is writable.
    """
    wanted = environ.get("LG_WD") or None
    if wanted is None:
        try:
            wanted = os.getcwd()
        except OSError:  # the working directory was removed
            wanted = None
    if wanted is not None and os.path.isdir(wanted) and os.access(wanted, os.W_OK | os.X_OK):
        return None
    path = tempfile.mkdtemp(prefix="dashcam-lgpio-")  # private: one pipe set per process
    log.warning(
        "lgpio cannot make its pipe in %s (%s): it goes to %s; set WorkingDirectory= and "
        "LG_WD in the unit to a directory the service user owns",
        wanted,
        "LG_WD" if environ.get("LG_WD") else "the working directory",
        path,
    )
    environ["LG_WD"] = path
    return path


def open_lgpio_factory(chip: int | None):
    """gpiozero's lgpio pin factory on gpiochip ``chip``; None: gpiozero's own choice.

    gpiozero 2.0 and 2.0.1 ignore ``chip=``: they open gpiochip4 on a Pi 5 (missing on
    kernels from 6.6.45 on, or a link to gpiochip0) and gpiochip0 elsewhere. When the
    factory did not open ``chip``, the chip is opened past gpiozero's choice, setting the
    three attributes its constructor sets; a chip that cannot be opened is the error.

    Raises:
        Exception: lgpio's or gpiozero's error (no such chip, no permission, not a Pi).
    """
    from gpiozero.pins.lgpio import LGPIOFactory

    if chip is None:
        return LGPIOFactory()
    try:
        factory = LGPIOFactory(chip=chip)
    except Exception as exc:  # noqa: BLE001 - it may have tried another chip: try ours
        log.warning("gpiozero's LGPIOFactory did not open gpiochip%d (%s)", chip, exc)
    else:
        if factory.chip == chip:
            return factory
        log.warning(
            "gpiozero's LGPIOFactory opened gpiochip%s, not gpiochip%d (it ignores chip=: "
            "gpiozero 2.0.1 or older)",
            factory.chip,
            chip,
        )
        factory.close()
    log.info("opening gpiochip%d past gpiozero's choice", chip)
    return _lgpio_factory_on(chip)


def _lgpio_factory_on(chip: int):
    import lgpio
    from gpiozero.pins.lgpio import LGPIOFactory, LGPIOPin
    from gpiozero.pins.local import LocalPiFactory

    class HeaderChipFactory(LGPIOFactory):
        """LGPIOFactory on a given chip where gpiozero would not take it (2.0, 2.0.1)."""

        def __init__(self) -> None:  # gpiozero's own would open its choice of chip first
            LocalPiFactory.__init__(self)
            self._handle = lgpio.gpiochip_open(chip)
            self._chip = chip
            self.pin_class = LGPIOPin

    return HeaderChipFactory()


def make_pin_factory(
    simulated: bool,
    *,
    sysfs_root: str | os.PathLike = "/sys",
    open_lgpio: Callable[[int | None], Any] = open_lgpio_factory,
):
    """gpiozero's mock pins (with PWM) off the Pi, lgpio on the header's chip on it.

    Args:
        simulated: True for mock pins that tests and the terminal panel drive.
        sysfs_root: Where sysfs is mounted: the header's chip is found there by its label
            (:func:`header_chip`); none found: gpiozero chooses, and the log says so.
        open_lgpio: Opens the lgpio pin factory on a chip number, or on gpiozero's own
            choice for None (:func:`open_lgpio_factory`).
    """
    if simulated:
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    chip = header_chip(sysfs_root)
    if chip is None:
        log.warning(
            "no GPIO chip labelled %s in %s: the buttons and the LED are on the chip gpiozero "
            "chooses (gpiochip4 on a Pi 5, else gpiochip0); found: %s",
            " or ".join(HEADER_CHIP_LABELS),
            Path(sysfs_root, "bus", "gpio", "devices"),
            ", ".join(
                f"gpiochip{c.number} {c.label or '(no label)'}" for c in gpio_chips(sysfs_root)
            )
            or "none",
        )
    else:
        log.info("the GPIO header is gpiochip%d (%s)", chip.number, chip.label)
    ensure_lgpio_workdir()
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    try:
        return open_lgpio(None if chip is None else chip.number)
    finally:
        # lgpio's import changes the working directory to LG_WD; relative paths given on
        # the command line (a config file to save to) must keep meaning what they meant.
        if cwd is not None and os.getcwd() != cwd:
            os.chdir(cwd)


def wire_mock_input(factory, pin: int, high: bool):
    """Make mock pin ``pin`` an input whose level an outside circuit holds at ``high``.

    gpiozero's MockPin drives its level from the pull resistor when an input is set up;
    on the Pi an optocoupler or a UPS that holds the line wins over the weak pull. The
    simulation (the ignition on at start) and tests (a UPS that already lost power) wire
    such pins before the device is made; ``drive_high``/``drive_low`` change the level later.

    Returns:
        The mock pin.
    """
    from gpiozero.pins.mock import MockPWMPin

    class WiredPin(MockPWMPin):
        def __init__(self, factory, info, high: bool) -> None:
            super().__init__(factory, info)
            self._held_high = high
            super().drive_high() if high else super().drive_low()

        def drive_high(self) -> None:
            self._held_high = True
            super().drive_high()

        def drive_low(self) -> None:
            self._held_high = False
            super().drive_low()

        def _set_pull(self, value) -> None:
            held = self._held_high
            super()._set_pull(value)  # checks the value; drives the level as the pull says
            self.drive_high() if held else self.drive_low()  # the circuit wins

    return factory.pin(pin, pin_class=WiredPin, high=high)
