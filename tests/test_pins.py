"""The GPIO header's chip, found by its label in sysfs, is the chip lgpio opens.

Each board is a sysfs tree laid out as the kernel lays it out: a chip's character device
(``gpiochipN``, the N of ``/dev/gpiochipN``) under its parent device, linked from
``bus/gpio/devices``, and its ``gpio`` class entry with the label in a ``gpio`` folder
beside it: the legacy ``gpiochipB`` (B: its first legacy GPIO number, not N) or, from
kernel 6.17, ``chipN``. The real lgpio package is exercised in tests/test_lgpio.py.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hw.pins import GpioChip, describe_pin_factory, gpio_chips, header_chip, make_pin_factory


def add_chip(root: Path, parent: str, number: int, label: str, base: int | None = None) -> None:
    """Chip ``number`` under device ``parent``; its class entry is ``gpiochip<base>``, or
    ``chip<number>`` when ``base`` is None (the 6.17 layout without the legacy one)."""
    device = root / "devices" / parent / f"gpiochip{number}"
    device.mkdir(parents=True)
    (device / "uevent").write_text(f"DEVNAME=gpiochip{number}\n")
    bus = root / "bus" / "gpio" / "devices"
    bus.mkdir(parents=True, exist_ok=True)
    (bus / device.name).symlink_to(os.path.relpath(device, bus))
    entry = device.parent / "gpio" / (f"chip{number}" if base is None else f"gpiochip{base}")
    entry.mkdir(parents=True)
    (entry / "label").write_text(label + "\n")
    (entry / "ngpio").write_text("54\n")
    classes = root / "class" / "gpio"
    classes.mkdir(parents=True, exist_ok=True)
    (classes / entry.name).symlink_to(os.path.relpath(entry, classes))


RP1 = "platform/axi/1000120000.pcie/1f000d0000.gpio"
BRCMSTB = ("platform/soc/107d508500.gpio", "platform/soc/107d517c00.gpio")


def pi5_old_kernel(root: Path) -> None:
    """Before 6.6.45: the SoC's four banks first, the RP1 (the header) fifth."""
    add_chip(root, BRCMSTB[0], 0, "gpio-brcmstb@107d508500", 512)
    add_chip(root, BRCMSTB[0], 1, "gpio-brcmstb@107d508520", 544)
    add_chip(root, BRCMSTB[1], 2, "gpio-brcmstb@107d517c00", 548)
    add_chip(root, BRCMSTB[1], 3, "gpio-brcmstb@107d517c20", 565)
    add_chip(root, RP1, 4, "pinctrl-rp1", 571)


def pi5_new_kernel(root: Path) -> None:
    """From 6.6.45: the RP1 is gpiochip0 (a device-tree alias), the SoC's banks 10-13."""
    add_chip(root, RP1, 0, "pinctrl-rp1", 569)
    add_chip(root, BRCMSTB[0], 10, "gpio-brcmstb@107d508500", 512)
    add_chip(root, BRCMSTB[0], 11, "gpio-brcmstb@107d508520", 544)
    add_chip(root, BRCMSTB[1], 12, "gpio-brcmstb@107d517c00", 548)
    add_chip(root, BRCMSTB[1], 13, "gpio-brcmstb@107d517c20", 565)


def pi5_kernel_6_17_without_legacy_sysfs(root: Path) -> None:
    add_chip(root, RP1, 0, "pinctrl-rp1")
    add_chip(root, BRCMSTB[0], 10, "gpio-brcmstb@107d508500")
    add_chip(root, BRCMSTB[0], 11, "gpio-brcmstb@107d508520")


def pi4(root: Path) -> None:
    add_chip(root, "platform/soc/fe200000.gpio", 0, "pinctrl-bcm2711", 512)
    add_chip(root, "platform/soc/soc:firmware/soc:firmware:gpio", 1, "raspberrypi-exp-gpio", 570)


def zero2(root: Path) -> None:
    add_chip(root, "platform/soc/3f200000.gpio", 0, "pinctrl-bcm2835", 512)


def another_board(root: Path) -> None:
    add_chip(root, "platform/soc/300b000.pinctrl", 0, "300b000.pinctrl", 0)
    add_chip(root, "platform/soc/7022000.pinctrl", 1, "7022000.pinctrl", 352)


@pytest.mark.parametrize(
    ("board", "wanted"),
    [
        (pi5_old_kernel, GpioChip(4, "pinctrl-rp1")),
        (pi5_new_kernel, GpioChip(0, "pinctrl-rp1")),
        (pi5_kernel_6_17_without_legacy_sysfs, GpioChip(0, "pinctrl-rp1")),
        (pi4, GpioChip(0, "pinctrl-bcm2711")),
        (zero2, GpioChip(0, "pinctrl-bcm2835")),
        (another_board, None),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_header_chip_is_found_by_its_label(tmp_path, board, wanted):
    board(tmp_path)
    assert header_chip(tmp_path) == wanted


def test_a_legacy_entry_is_not_taken_for_a_chip_it_may_not_belong_to(tmp_path):
    """Two banks under one device: their legacy entries are named by GPIO numbers, which
    say nothing of N; the labels stay unknown rather than swapped."""
    pi5_new_kernel(tmp_path)
    chips = {chip.number: chip.label for chip in gpio_chips(tmp_path)}
    assert chips == {0: "pinctrl-rp1", 10: "", 11: "", 12: "", 13: ""}


def test_no_gpio_in_sysfs_is_no_chip(tmp_path):
    assert gpio_chips(tmp_path) == [] and header_chip(tmp_path) is None
    (tmp_path / "bus" / "gpio" / "devices").mkdir(parents=True)
    (tmp_path / "bus" / "gpio" / "devices" / "gpiochip0").symlink_to(tmp_path / "gone")
    assert gpio_chips(tmp_path) == [GpioChip(0, "")] and header_chip(tmp_path) is None


@pytest.mark.parametrize(
    ("board", "chip", "logged"),
    [
        (pi5_old_kernel, 4, "the GPIO header is gpiochip4 (pinctrl-rp1)"),
        (pi5_new_kernel, 0, "the GPIO header is gpiochip0 (pinctrl-rp1)"),
        (pi4, 0, "the GPIO header is gpiochip0 (pinctrl-bcm2711)"),
        (another_board, None, "no GPIO chip labelled pinctrl-rp1 or pinctrl-bcm2711 or"),
    ],
    ids=["pi5-old-kernel", "pi5-new-kernel", "pi4", "no-match"],
)
def test_make_pin_factory_opens_lgpio_on_the_header_chip(tmp_path, caplog, board, chip, logged):
    """None: gpiozero's own choice (gpiochip4 on a Pi 5, else gpiochip0), and the log says so."""
    board(tmp_path / "sys")
    opened = []
    with caplog.at_level(logging.INFO, logger="hw.pins"):
        factory = make_pin_factory(
            False, sysfs_root=tmp_path / "sys", open_lgpio=lambda n: opened.append(n) or "lgpio"
        )
    assert factory == "lgpio" and opened == [chip]
    assert logged in caplog.text
    if chip is None:
        assert "found: gpiochip0 300b000.pinctrl, gpiochip1 7022000.pinctrl" in caplog.text


def test_simulated_pins_read_no_sysfs(tmp_path):
    factory = make_pin_factory(True, sysfs_root=tmp_path / "missing", open_lgpio=pytest.fail)
    assert type(factory).__name__ == "MockFactory"


def test_the_doctor_names_the_chip_the_factory_opened(tmp_path):
    pi5_new_kernel(tmp_path)
    lgpio_factory = type("LGPIOFactory", (), {"chip": 0})()
    assert (
        describe_pin_factory(lgpio_factory, tmp_path) == "LGPIOFactory on gpiochip0 [pinctrl-rp1]"
    )
    other = type("LGPIOFactory", (), {"chip": 11})()
    assert describe_pin_factory(other, tmp_path) == "LGPIOFactory on gpiochip11"
    assert describe_pin_factory(SimpleNamespace(), tmp_path) == "SimpleNamespace"
