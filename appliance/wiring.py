"""The buttons and the wiring, defined once.

The button names (the panel, the web API and its OpenAPI document, the case's caps) and
the default pins (the config's defaults, the case's wiring table, the wiring diagram) are
read from here. Stdlib only: the case (``cad/``) imports it too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Button(enum.StrEnum):
    """The three buttons, in the order the driver sees them (left to right)."""

    RECORD = "record"
    PHOTO = "photo"
    PROTECT = "protect"


@dataclass(frozen=True, slots=True)
class Wire:
    """Where one signal meets the Pi's 40-pin header.

    Attributes:
        bcm: The BCM GPIO number (what gpiozero and the config use).
        header_pin: The physical pin on the 40-pin header (what a wiring diagram shows).
    """

    bcm: int
    header_pin: int


#: Each button's default wire; the other leg of each button goes to a ground pin.
BUTTON_WIRES: dict[Button, Wire] = {
    Button.RECORD: Wire(bcm=17, header_pin=11),
    Button.PHOTO: Wire(bcm=27, header_pin=13),
    Button.PROTECT: Wire(bcm=22, header_pin=15),
}

#: The status LED's default wire (a PWM-capable GPIO) and the ground pin beside it.
LED_WIRE = Wire(bcm=12, header_pin=32)
LED_GND_HEADER_PIN = 34
